"""A simulated Kandji tenant on loopback for the planned sweep's tests, and what they
compare: findings, coverage, requests by route."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import SecretStr

from monitor.clock import FakeClock
from monitor.config import BudgetConfig, RetryConfig
from monitor.engine import RuleSet, evaluate, load_rules
from monitor.models import FactKind, SourceKind, SubjectKind
from monitor.simulator.kandji import KandjiSimulator
from monitor.sources.base import SweepOutcome
from monitor.sources.budget import RequestBudget
from monitor.sources.kandji.client import KandjiClient
from monitor.sources.kandji.config import KandjiSourceConfig
from monitor.sources.kandji.per_device import KandjiPerDeviceSweeper
from monitor.sources.kandji.planned import KandjiPlannedSweeper
from monitor.sources.kandji.planner import SubjectFilter

TOKEN = "planned-sweep-token"
SHIPPED: RuleSet = load_rules([], builtin=True)
NEEDS = SHIPPED.needs(SourceKind("kandji"))


def rule_filter(rules: RuleSet) -> SubjectFilter:
    """What the daemon gives the planned sweeper: the engine's status/type index."""
    plans = {p.kind: p for p in rules.plan(SourceKind("kandji"))}

    def keep(kind: SubjectKind, status: str, type_: str) -> bool:
        plan = plans.get(kind)
        return plan is not None and bool(plan.candidates(status, type_))

    return keep


@dataclass
class Tenant:
    """A simulated tenant, its fake clock, and clients of it."""

    url: str
    sim: KandjiSimulator
    clock: FakeClock

    def client(self, budget: RequestBudget | None = None, **budget_knobs: Any) -> KandjiClient:
        """A client with a generous budget unless told otherwise."""
        knobs = {"requests_per_hour": 1_000_000, "burst_per_second": 1000, "concurrency": 8}
        knobs.update(budget_knobs)
        config = KandjiSourceConfig(
            name="acme",
            kind="kandji",
            url=self.url,
            token=SecretStr(TOKEN),
            timeout=timedelta(seconds=10),
            budget=BudgetConfig(**knobs),
            retry=RetryConfig(max_attempts=2, backoff_base=timedelta(0), backoff_max=timedelta(0)),
        )
        return KandjiClient(config, clock=self.clock, budget=budget)

    def requests(self, route: str) -> int:
        """Requests the tenant served on ``route`` (a route template)."""
        return self.sim.requests.count(route)


StartTenant = Callable[..., Awaitable[Tenant]]


def findings_of(outcome: SweepOutcome, tenant: Tenant, rules: RuleSet = SHIPPED) -> set[Any]:
    """Everything a finding says, comparable across sweeps of the same fleet state."""
    return {
        (f.fingerprint, f.subject_status, f.summary, f.description, f.severity)
        for f in evaluate(rules, outcome.facts(), tenant.clock.now())
    }


def observed_ids(outcome: SweepOutcome, kind: FactKind) -> set[str]:
    """The devices whose ``kind`` facts the sweep observed fresh."""
    return {d for d in outcome.coverage.devices if outcome.coverage.observed(kind, d)}


async def both(
    tenant: Tenant, rules: RuleSet = SHIPPED
) -> tuple[KandjiPerDeviceSweeper, KandjiPlannedSweeper]:
    """The reference per-device sweeper and the planned one, on the same tenant."""
    return (
        KandjiPerDeviceSweeper(tenant.client(), "acme"),
        KandjiPlannedSweeper(tenant.client(), "acme", keep=rule_filter(rules)),
    )


@asynccontextmanager
async def planned_sweeper(
    tenant: Tenant, rules: RuleSet = SHIPPED, **options: Any
) -> AsyncIterator[KandjiPlannedSweeper]:
    """A planned sweeper of ``tenant`` keeping what ``rules`` could match; closed after."""
    planned = KandjiPlannedSweeper(tenant.client(), "acme", keep=rule_filter(rules), **options)
    try:
        yield planned
    finally:
        await planned.close()
