"""From a source's config to its client and sweeper (the one place that maps ``kind``).

Sources naming the same tenant share one request budget, so every task of the tenant
(sweeps, actions) spends from one hourly window.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass

from monitor.clock import Clock
from monitor.config import AppliverySourceConfig, Config, KandjiSourceConfig
from monitor.engine import RuleSet
from monitor.log import register_secret
from monitor.models import SourceKind, SubjectKind
from monitor.sources.applivery import AppliveryClient
from monitor.sources.budget import RequestBudget
from monitor.sources.http import RequestHook
from monitor.sources.kandji import KandjiClient
from monitor.sources.kandji_models import (
    is_known_library_item_status,
    is_known_parameter_status,
)
from monitor.sweep.applivery import AppliverySweeper
from monitor.sweep.base import Sweeper
from monitor.sweep.per_device import KandjiPerDeviceSweeper
from monitor.sweep.planned import KandjiPlannedSweeper


@dataclass(frozen=True, slots=True)
class BuiltSource:
    """A source's sweeper and the API client it (and the actions) use."""

    sweeper: Sweeper
    client: KandjiClient | AppliveryClient


def build_sweeper(
    src: KandjiSourceConfig | AppliverySourceConfig,
    config: Config,
    rules: RuleSet,
    clock: Clock,
    budgets: MutableMapping[str, RequestBudget],
    *,
    on_request: RequestHook | None = None,
) -> BuiltSource:
    """The client and sweeper of ``src``; its budget is added to ``budgets``."""
    token = src.resolve_token()
    register_secret(token.get_secret_value())
    budget = next(
        (
            budgets[other.name]
            for other in config.sources
            if other.name in budgets
            and other.kind == src.kind
            and other.url == src.url
            and getattr(other, "organization", None) == getattr(src, "organization", None)
        ),
        None,
    ) or RequestBudget(src.budget, clock)
    budgets[src.name] = budget
    if isinstance(src, KandjiSourceConfig):
        client = KandjiClient(src, clock=clock, token=token, budget=budget, on_request=on_request)
        if src.strategy == "per_device":
            return BuiltSource(KandjiPerDeviceSweeper(client, src.name), client)
        # Keep only the subjects an enabled rule could match (the engine's status/type
        # index): findings are the same, memory is a small fraction.
        plans = {plan.kind: plan for plan in rules.plan(SourceKind.KANDJI)}

        def may_match(kind: SubjectKind, status: str, type_: str) -> bool:
            if not status_is_known(kind, status):
                return True  # kept so that its alerts are held, not resolved
            plan = plans.get(kind)
            return plan is not None and bool(plan.candidates(status, type_))

        return BuiltSource(KandjiPlannedSweeper(client, src.name, keep=may_match), client)
    aclient = AppliveryClient(src, clock=clock, token=token, budget=budget, on_request=on_request)
    return BuiltSource(AppliverySweeper(aclient, src.name), aclient)


def status_is_known(kind: SubjectKind, status: str) -> bool:
    """Whether Kandji documents ``status`` for subjects of ``kind``."""
    if kind is SubjectKind.LIBRARY_ITEM:
        return is_known_library_item_status(status)
    if kind is SubjectKind.PARAMETER:
        return is_known_parameter_status(status)
    return True
