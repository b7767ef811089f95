"""From a source's config to its client and sweeper, through the registry.

Sources naming the same tenant (:meth:`monitor.sources.base.Source.tenant`) share one
request budget, so every task of the tenant (sweeps, actions) spends from one hourly
window.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from monitor.clock import Clock
from monitor.log import register_secret
from monitor.settings import SourceBase
from monitor.sources import registry
from monitor.sources.base import RequestHook, Sweeper
from monitor.sources.budget import BudgetLedger, RequestBudget

if TYPE_CHECKING:
    from monitor.engine import RuleSet


class HasSources(Protocol):
    """What the builder reads of the config: every configured source."""

    @property
    def sources(self) -> Sequence[SourceBase]:
        """The configured sources."""
        ...


@dataclass(frozen=True, slots=True)
class BuiltSource:
    """A source's sweeper and the API client it (and the actions) use."""

    sweeper: Sweeper
    client: Any


def _tenant(src: SourceBase) -> tuple[str, ...]:
    return (src.kind, *registry.get(src.kind).tenant(src))


def build_sweeper(
    src: SourceBase,
    config: HasSources,
    rules: RuleSet,
    clock: Clock,
    budgets: MutableMapping[str, RequestBudget],
    *,
    on_request: RequestHook | None = None,
    ledger: BudgetLedger | None = None,
) -> BuiltSource:
    """The client and sweeper of ``src``; its budget is added to ``budgets``."""
    token = src.resolve_token()
    register_secret(token.get_secret_value())
    tenant = _tenant(src)
    budget = next(
        (
            budgets[other.name]
            for other in config.sources
            if other.name in budgets and _tenant(other) == tenant
        ),
        None,
    ) or RequestBudget(
        src.budget, clock, ledger=ledger,
        # The tenant, as every process computes it: its sources share one hourly budget.
        ledger_key=":".join(str(part) for part in tenant),
    )
    budgets[src.name] = budget
    parts = registry.get(src.kind).build(
        src, clock=clock, token=token, budget=budget, on_request=on_request, rules=rules
    )
    return BuiltSource(parts.sweeper, parts.client)


__all__ = ["BuiltSource", "build_sweeper"]
