"""One sweep's path, from the sweeper's outcome to the notification planner::

    sweeper.sweep(needs) -> engine.evaluate (+ source health, failed actions)
        -> alerts.step -> store.commit_sweep -> actions -> notify(step)

:class:`SweepCycle` holds the parts one sweep needs and nothing else; the per-source
schedule lives in :mod:`monitor.daemon`, the wiring in :mod:`monitor.app`. A cycle
returns the sweep's :class:`~monitor.models.SweepStats`, the one summary of a sweep.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import structlog

from monitor import alerts as alerts_mod
from monitor.actions import ActionRunner
from monitor.clock import Clock
from monitor.config import Config
from monitor.engine import RuleSet, evaluate
from monitor.errors import MonitorError, StaleLeaseError, StoreError, is_auth_error
from monitor.health import HealthBook, StoreHistory
from monitor.heartbeat import Heartbeat
from monitor.leasing import LeaseKeeper
from monitor.log import redact
from monitor.metrics import Metrics
from monitor.models import FactKind, Finding, SourceKind, SweepStats
from monitor.sources.base import Remembers, Sweeper, SweepOutcome, SweepProgress, cadence_of
from monitor.sources.budget import RequestBudget
from monitor.store.base import Lease, Store

log = structlog.get_logger(__name__)

#: Hears each committed step (the notification planner).
StepListener = Callable[[alerts_mod.StepResult], None]


@dataclass
class SweepCycle:
    """Sweeps one source once and commits what it saw; see the module docstring.

    ``dry_run``: actions are planned and logged but not taken (``once --dry-run``).
    """

    config: Config
    rules: RuleSet
    store: Store
    clock: Clock
    health: HealthBook
    metrics: Metrics
    sweepers: Mapping[str, Sweeper]
    budgets: Mapping[str, RequestBudget]
    on_step: StepListener
    actions: ActionRunner | None = None
    progress: SweepProgress | None = None
    heartbeat: Heartbeat | None = None
    dry_run: bool = False
    #: With several instances: the sweep is made, and committed, under the source's lease.
    leases: LeaseKeeper | None = None
    #: Told when this instance starts a new lease epoch on a source (taken or taken back).
    on_lease_taken: Callable[[str], None] | None = None
    _epochs: dict[str, int] = field(default_factory=dict)

    def cadence(self, name: str) -> float:
        """Seconds between two sweeps of ``name``: its configured interval, or less when
        its sweeper's budget affords a full pass sooner (:func:`cadence_of`)."""
        interval = self.config.source(name).interval.total_seconds()
        return cadence_of(self.sweepers.get(name), interval)

    async def run(self, name: str) -> SweepStats:
        """Sweep ``name`` once, commit alerts, transitions and the sweep; its stats."""
        src = self.config.source(name)
        kind = SourceKind(src.kind)
        lease = await self._lease(name)
        started, t0 = self.clock.now(), self.clock.monotonic()
        if self.progress is not None:
            self.progress.sweep_started(name)
        try:
            outcome = await self.sweepers[name].sweep(self.rules.needs(kind))
        except MonitorError as exc:  # sweepers report failures in their outcome; belt and braces
            outcome = SweepOutcome(
                source=name, ok=False, errors=[str(exc)], auth_failed=is_auth_error(exc)
            )
        now = self.clock.now()
        finished = started + timedelta(seconds=self.clock.monotonic() - t0)
        budget = self.budgets.get(name)
        stats = SweepStats(
            source=name,
            started_at=started,
            finished_at=finished,
            ok=outcome.ok,
            devices=len(outcome.devices),
            requests=outcome.requests,
            errors=len(outcome.errors),
            error=outcome.errors[0] if outcome.errors else "",
            budget_remaining=None if budget is None else float(budget.remaining),
        )
        # What this sweep makes of the source's health is published once the sweep is
        # stored: until then the book (status page, /readyz) keeps the last recorded one.
        health = self.health[name].copy()
        health.record(stats, auth_failed=outcome.auth_failed)
        health.cadence_s = self.cadence(name)
        findings = evaluate(self.rules, outcome.facts(), now)
        unhealthy = health.unhealthy_finding(kind, src.unhealthy_after, now)
        if unhealthy is not None:
            findings.append(unhealthy)
        if self.actions is not None:
            # A failed remediation is an alert of its own, raised on the next sweep.
            findings.extend(self.actions.failure_findings(name))
        try:
            step = await self._step(name, kind, outcome, findings, now)
            stats = replace(
                stats, findings=len(findings), firing=step.firing,
                transitions=len(step.transitions),
            )
            health.history[-1] = stats
            if lease is not None and self.leases is not None:
                lease = await self.leases.refresh(lease)
                if lease is None:
                    raise StaleLeaseError(f"{name}: the lease was lost during the sweep")
            await self.store.commit_sweep(stats, step, lease=lease)
        except StaleLeaseError:
            raise  # another instance sweeps this source now: not a store failure
        except StoreError as exc:
            # Nothing this sweep saw was kept, so nothing can be announced: the source is
            # not healthy and /readyz says why (see monitor.health).
            self.health.store_failed(name, redact(str(exc)), finished)
            raise
        self.health.publish(health)
        self.health.store_recovered()
        await self._keep_memo(name, lease)
        await self._act(step, outcome)
        self.metrics.observe_sweep(stats)
        if health.cadence_s is not None:
            self.metrics.set_cadence(name, health.cadence_s)
        if budget is not None:
            snap = budget.snapshot()
            self.metrics.set_tenant_budget(name, snap.tenant_remaining, snap.own_share)
        if self.progress is not None:
            self.progress.sweep_finished(name, ok=stats.ok, devices=stats.devices)
        self.on_step(step)
        self._beat(name, stats)
        log.info(
            "sweep", source=name, ok=stats.ok, devices=stats.devices, requests=stats.requests,
            errors=stats.errors, findings=stats.findings, firing=stats.firing,
            transitions=stats.transitions, budget_remaining=stats.budget_remaining,
            duration_s=round(stats.duration_s, 3),
        )
        return stats

    async def _lease(self, name: str) -> Lease | None:
        """The lease this sweep is made under; on a new epoch, what other instances
        recorded of the source meanwhile (its health) is read back first."""
        if self.leases is None:
            return None
        lease = await self.leases.ensure(name)
        if lease is None:
            raise StaleLeaseError(f"{name}: this instance does not hold the source's lease")
        if self._epochs.get(name) != lease.epoch:
            await self.health.restore_source(name, StoreHistory(self.store))
            sweeper = self.sweepers[name]
            if isinstance(sweeper, Remembers):
                # What the previous holder (or this process before a restart) learned.
                sweeper.restore_memo(await self.store.load_memo(name))
            self._epochs[name] = lease.epoch
            if self.on_lease_taken is not None:
                self.on_lease_taken(name)
        return lease

    async def _step(
        self,
        name: str,
        kind: SourceKind,
        outcome: SweepOutcome,
        findings: list[Finding],
        now: datetime,
    ) -> alerts_mod.StepResult:
        held = unknown_status_subjects(outcome)
        if held:
            # A status the API does not document is not evidence of recovery.
            log.warning(
                "undocumented status values; alerts on these subjects are held",
                source=name, subjects=len(held),
            )
        previous = await self.store.load_alerts(name)
        evaluated = [r.id for r in self.rules.enabled if r.applies_to(kind)]
        known = await self.store.known_rules(name)
        return alerts_mod.step(
            previous,
            findings,
            outcome.coverage,
            now,
            evaluated_rules=evaluated,
            baseline=alerts_mod.baseline_rules(self.config.notify.first_start, evaluated, known),
            inhibit=self.config.inhibit,
            device_last_check_in={d.device_id: d.last_check_in for d in outcome.devices.values()},
            rule_facts=self._rule_facts(kind),
            held=held,
        )

    async def _keep_memo(self, name: str, lease: Lease | None) -> None:
        """Store what the sweeper's memory gained (under the sweep's lease)."""
        sweeper = self.sweepers[name]
        if self.dry_run or not isinstance(sweeper, Remembers):
            return
        changes = sweeper.memo_changes()
        if not changes:
            return
        try:
            await self.store.save_memo(name, changes, self.clock.now(), lease=lease)
        except StoreError as exc:  # costs requests after a restart, loses nothing else
            log.warning("memo not stored", source=name, error=redact(str(exc)))

    def _beat(self, name: str, stats: SweepStats) -> None:
        """Ping the dead-man's switch: healthy when this sweep and every source are fine."""
        if self.heartbeat is None or self.dry_run:
            return
        failing = sorted(h.name for h in self.health if h.consecutive_failures)
        if failing:
            summary = f"sweep of {name} {'ok' if stats.ok else 'failed'}; failing: " + (
                ", ".join(failing)
            )
        else:
            summary = f"sweep of {name} ok: {stats.devices} devices, {stats.firing} alerts firing"
        self.heartbeat.report(stats.ok and not failing, summary)

    async def _act(self, step: alerts_mod.StepResult, outcome: SweepOutcome) -> None:
        if self.actions is None:
            return
        results = await self.actions.run(
            step.transitions,
            {r.id: r for r in self.rules.rules},
            outcome.devices,
            dry_run=self.dry_run,
            firing=step.alerts.values(),
        )
        for r in results:
            self.metrics.observe_action(r.request.action, str(r.status))

    def _rule_facts(self, kind: SourceKind) -> Callable[[str], Collection[FactKind]]:
        def facts(rule_id: str) -> Collection[FactKind]:
            return self.rules.facts_of(rule_id, kind) if rule_id in self.rules else ()

        return facts


def unknown_status_subjects(outcome: SweepOutcome) -> frozenset[tuple[str, str, str]]:
    """(device, subject kind, subject id) of every subject reporting an undocumented status."""
    return frozenset(
        (device_id, subject.kind.value, subject.id)
        for device_id, by_kind in outcome.subjects.items()
        for subjects in by_kind.values()
        for subject in subjects
        if subject.attrs.get("status_known") is False
    )
