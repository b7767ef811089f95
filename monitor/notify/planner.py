"""Notification planning: route, group, decide, render; from the transitions handed in.

The planner keeps the alerts it plans from in memory: loaded from the store once (on
the first evaluation, and again after :meth:`NotifyPlanner.reload`), then replaced
source by source with the alert state each committed sweep hands over
(:meth:`NotifyPlanner.take`). The notification log is kept the same way (the planner is
its only writer). Only the silences are read on every evaluation, since ``silence add``
writes them from another process. One evaluation::

    alerts, log, silences in force                     (one ``now`` for the whole pass)
      -> route and group                               (routing.py, grouping.py)
      -> per group whose timer is due: decide()        (pure: a reason or None)
      -> render (templates.py)                         -> plans to enqueue
      -> owner receivers: one message per device owner (owner_stage.py, owners.py)

Group timers follow Alertmanager: a group seen for the first time waits ``group_wait``
(so the alerts of one sweep travel together); after each evaluation the next one is
``group_interval`` later; ``repeat_interval`` is enforced by the log. The timers live in
memory: after a restart every group waits ``group_wait`` once more, and the log keeps it
from repeating what was already said.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

import structlog

from monitor.alerts import StepResult, inhibited_fingerprints
from monitor.config import Config
from monitor.errors import StaleLeaseError
from monitor.leasing import LeaseKeeper
from monitor.models import (
    Alert,
    AlertState,
    Finding,
    NotifyReason,
    Severity,
    SourceKind,
    SubjectKind,
)
from monitor.notify.alertmanager import render_alerts
from monitor.notify.grouping import AlertGroup, GroupDecision, build_groups, decide
from monitor.notify.labels import alert_labels
from monitor.notify.owner_stage import OwnerNotices
from monitor.notify.owners import OwnerPlan
from monitor.notify.routing import Route, build_routes
from monitor.notify.silences import Silencer, SilencesInForce
from monitor.notify.templates import RenderedMessage, Templates, build_context, decision_context
from monitor.store.base import Lease, NotificationLogEntry, OutboxMessage, Store

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Plan:
    """What evaluating one group decided: the log entry to write and, when the group
    speaks, the rendered message."""

    decision: GroupDecision
    entry: NotificationLogEntry
    message: RenderedMessage | None
    lease: Lease | None = None


class NotifyPlanner:
    """Routes, groups, decides and renders; see the module docstring."""

    def __init__(
        self, config: Config, store: Store, *, templates: Templates | None = None
    ) -> None:
        self._config = config
        self._store = store
        self._root: Route = build_routes(config.route)
        self._templates = templates or Templates(config.receivers)
        self.silences = SilencesInForce(config.silences, store)
        self._owners = OwnerNotices(config, store)
        self._alerts: dict[str, Alert] | None = None
        self._logs: dict[str, NotificationLogEntry] | None = None
        self._timers: dict[str, datetime] = {}
        self._lock = asyncio.Lock()
        #: With several instances: a group is planned by the holder of its source's
        #: lease (the first source, by name, of its alerts), and written under it;
        #: owner notices by the holder of the duties lease.
        self.leases: LeaseKeeper | None = None

    @property
    def routes(self) -> Route:
        """The resolved route tree."""
        return self._root

    def take(self, step: StepResult) -> None:
        """Adopt the alert state a committed sweep of ``step.source`` left behind."""
        if self._alerts is None:
            return  # loaded in full on the next evaluation
        for fp in [fp for fp, a in self._alerts.items() if a.finding.source == step.source]:
            del self._alerts[fp]
        self._alerts.update(step.alerts)

    def reload(self) -> None:
        """Forget what is held in memory; the next evaluation reads the store again."""
        self._alerts = None
        self._logs = None

    def next_due(self) -> datetime | None:
        """When the earliest group timer falls due, or None without timers."""
        return min(self._timers.values(), default=None)

    async def flush(self, now: datetime, *, ignore_wait: bool = False) -> list[OutboxMessage]:
        """Evaluate the groups due at ``now`` (all of them with ``ignore_wait``) and
        queue what they have to say, each message with its log entry in one transaction."""
        async with self._lock:
            if self.leases is not None and not self.leases.solo:
                self.reload()  # other instances write alerts and logs too: read them fresh
            plans = await self._plan(now, ignore_wait=ignore_wait, commit=True)
            _, logs = await self._held()
            queued: list[OutboxMessage] = []
            for plan in plans:
                try:
                    if plan.message is None:
                        await self._store.update_notification_log(plan.entry, lease=plan.lease)
                    else:
                        queued.append(await self._store.enqueue(
                            plan.message.draft(now), plan.entry, lease=plan.lease
                        ))
                except StaleLeaseError as exc:
                    log.warning("notify.lease_lost", group=plan.entry.group_key, error=str(exc))
                    self.reload()
                    continue
                logs[plan.entry.group_key] = plan.entry
            if self._owners:
                queued.extend(await self._commit_owners(now))
            for message in queued:
                log.info(
                    "notify.queued", message_id=message.id, receiver=message.receiver,
                    group=message.group_key, reason=message.reason.value,
                    firing=message.firing, resolved=message.resolved,
                )
            return queued

    async def preview(self, now: datetime) -> list[RenderedMessage]:
        """What ``flush(now, ignore_wait=True)`` would queue, without writing anything."""
        async with self._lock:
            plans = await self._plan(now, ignore_wait=True, commit=False)
            owner_plans = await self._owner_plans(now, preview=True) if self._owners else []
        rendered = [p.message for p in plans if p.message is not None]
        for owner_plan in owner_plans:
            for draft in owner_plan.drafts:
                to = owner_plan.masked if draft.group_key == owner_plan.key else ""
                rendered.append(RenderedMessage.of(draft, to=to))
        return rendered

    async def _commit_owners(self, now: datetime) -> list[OutboxMessage]:
        """Plan and queue the owner notices, when this instance does the cluster's duties
        (one instance speaks to owners, under the duties lease)."""
        lease = None if self.leases is None else await self.leases.duties()
        if self.leases is not None and lease is None:
            return []
        try:
            return await self._owners.commit(await self._owner_plans(now), lease=lease)
        except StaleLeaseError as exc:
            log.warning("notify.lease_lost", group="owners", error=str(exc))
            self.reload()
            return []

    async def _owner_plans(self, now: datetime, *, preview: bool = False) -> list[OwnerPlan]:
        alerts, _ = await self._held()
        muted = _muted(alerts, await self.silences.silencer(now), now)
        return await self._owners.plan(alerts, self._root, muted, now, preview=preview)

    async def _held(self) -> tuple[dict[str, Alert], dict[str, NotificationLogEntry]]:
        # Locals, not the attributes: a reload() (a lease just taken) may clear those
        # while the store is read; this evaluation then plans from what it read.
        alerts = self._alerts
        if alerts is None:
            alerts = self._alerts = dict(await self._store.load_alerts())
        logs = self._logs
        if logs is None:
            logs = self._logs = dict(await self._store.notification_logs())
        return alerts, logs

    async def _plan(self, now: datetime, *, ignore_wait: bool, commit: bool) -> list[Plan]:
        alerts, logs = await self._held()
        silencer = await self.silences.silencer(now)
        muted = _muted(alerts, silencer, now)
        groups = build_groups(alerts.values(), self._root, logs, now)
        still_firing = frozenset(
            fp for fp, a in alerts.items() if a.state is AlertState.FIRING and not a.baseline
        )
        plans: list[Plan] = []
        evaluated = 0
        for key, group in groups.items():
            if group.receiver in self._owners.receivers:
                continue  # addressed per owner: see owner_stage.py
            lease = await self._lease_for(group)
            if self.leases is not None and lease is None:
                continue  # the instance holding the group's source speaks for it
            last = logs.get(key)
            if not group.announceable() and not (last is not None and last.firing):
                # Nothing fires and nothing was announced: the group is idle.
                if commit:
                    self._timers.pop(key, None)
                continue
            due_at = self._timers.get(key)
            if due_at is None:
                due_at = now + group.route.group_wait
                if commit:
                    self._timers[key] = due_at
            if not ignore_wait and now < due_at:
                continue
            evaluated += 1
            if commit:
                self._timers[key] = now + group.route.group_interval
            plan = self._evaluate(group, last, now, muted, still_firing)
            if plan is not None:
                plans.append(replace(plan, lease=lease))
        if commit:
            for key in set(self._timers) - set(groups):
                del self._timers[key]
        log.debug(
            "notify.evaluated", groups=len(groups), evaluated=evaluated, plans=len(plans),
            muted=len(muted), silences=len(silencer),
        )
        return plans

    async def _lease_for(self, group: AlertGroup) -> Lease | None:
        """The lease a group is planned under: its first source's (by name), or, for a
        group no alert names a source of, the duties lease."""
        if self.leases is None:
            return None
        sources = {a.finding.source for a in group.alerts}
        if not sources and group.labels.get("source"):
            sources = {group.labels["source"]}
        if not sources:
            return await self.leases.duties()
        if not self.leases.solo:  # others sweep some sources: only what is held here
            return self.leases.holds(min(sources))
        return await self.leases.ensure(min(sources))

    def _evaluate(
        self,
        group: AlertGroup,
        last: NotificationLogEntry | None,
        now: datetime,
        muted: frozenset[str],
        still_firing: frozenset[str] = frozenset(),
    ) -> Plan | None:
        receiver = self._config.receiver(group.receiver)
        decision = decide(
            group, last, now, muted=muted, send_resolved=receiver.send_resolved,
            still_firing=still_firing,
        )
        if decision.entry is None:
            return None
        if decision.reason is None:
            return Plan(decision, decision.entry, None)
        if receiver.alertmanager is not None:
            title, body, body_format = render_alerts(decision, receiver, now)
        else:
            title, body, body_format = self._templates.render(
                receiver, decision_context(decision, receiver, now)
            )
        message = RenderedMessage(
            receiver=receiver.name,
            reason=decision.reason,
            title=title,
            body=body,
            body_format=body_format,
            group_key=group.key,
            firing=len(decision.firing),
            resolved=decision.resolved_count,
            severity=decision.severity,
        )
        return Plan(decision, decision.entry, message)

    def sample(self, receiver_name: str, now: datetime) -> RenderedMessage:
        """A sample message for ``receiver_name`` (``test-notify``); KeyError if unknown."""
        receiver = self._config.receiver(receiver_name)
        sample = _sample_alerts(now)
        title, body, body_format = self._templates.render(
            receiver,
            build_context(
                receiver, NotifyReason.FIRST, firing=sample, resolved=(),
                new=frozenset(a.fingerprint for a in sample), now=now,
            ),
        )
        return RenderedMessage(
            receiver=receiver.name, reason=NotifyReason.FIRST, title=f"[TEST] {title}",
            body=body, body_format=body_format, firing=len(sample),
        )


def _muted(alerts: Mapping[str, Alert], silencer: Silencer, now: datetime) -> frozenset[str]:
    inhibited = inhibited_fingerprints(alerts.values())
    if not len(silencer):
        return inhibited
    silenced = {
        fp for fp, a in alerts.items() if silencer.silenced_by(alert_labels(a), now) is not None
    }
    return inhibited | silenced


def _sample_alerts(now: datetime) -> tuple[Alert, ...]:
    out = []
    for n, (name, serial) in enumerate((("Test Mac 1", "C02TEST0001"),
                                        ("Test Mac 2", "C02TEST0002")), start=1):
        finding = Finding(
            rule_id="monitor.test",
            source="test",
            source_kind=SourceKind("test"),
            device_id=f"test-device-{n}",
            device_name=name,
            device_serial=serial,
            subject_kind=SubjectKind.LIBRARY_ITEM,
            subject_id="test-item",
            subject_name="Sample library item",
            subject_status="ERROR",
            severity=Severity.INFO,
            summary=f"Sample library item is ERROR on {name}",
            description="A test message from compliance-monitor; nothing is wrong.",
        )
        out.append(Alert(
            fingerprint=finding.fingerprint, state=AlertState.FIRING, finding=finding,
            active_since=now, last_seen=now, firing_since=now,
        ))
    return tuple(out)
