"""Aggregation groups and the "should we notify?" decision. Pure.

An alert falls in one group per route that takes it: the route plus the values of the
route's ``group_by`` labels. At each evaluation of a group, the alerts that fire and
are not muted are compared with the group's notification log, i.e. what its receiver
was last told::

    firing   = firing alerts of the group - muted (silenced, inhibited) - baseline
    resolved = announced as firing last time, no longer firing (muted ones wait)
    reason   = should_notify(firing, resolved, last log entry, now, ...)

A muted alert that was already announced stays in the log: it is not announced again
while muted, and its resolution is announced once the mute ends. An alert that starts
firing while muted is announced as new when the mute ends.

An alert that left the group while still firing (it aged into an ``age: {over: ...}``
route, or its labels changed) is forgotten quietly: it is not resolved, the route that
took it announces it (``escalated`` on an age route) and later its resolution.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.models import Alert, AlertState, NotifyReason
from monitor.notify.labels import alert_labels
from monitor.notify.routing import Route, alert_age, group_key
from monitor.store.base import NotificationLogEntry


@dataclass(frozen=True, slots=True)
class AlertGroup:
    """The alerts one route groups together under one key (any state)."""

    key: str
    route: Route
    labels: Mapping[str, str]
    alerts: tuple[Alert, ...]

    @property
    def receiver(self) -> str:
        """The receiver this group speaks to."""
        return self.route.receiver

    def announceable(self) -> frozenset[str]:
        """Fingerprints firing and not recorded at a baseline (muting aside)."""
        return frozenset(
            a.fingerprint for a in self.alerts if a.state is AlertState.FIRING and not a.baseline
        )


def build_groups(
    alerts: Iterable[Alert],
    root: Route,
    logs: Mapping[str, NotificationLogEntry] | None = None,
    now: datetime | None = None,
) -> dict[str, AlertGroup]:
    """Group ``alerts`` along the route tree (ages taken at ``now``; without it, no
    alert matches an age route).

    A group with a log entry that still lists firing alerts is kept even when none of
    its alerts remain (their rows were deleted), so their resolution is not lost.
    """
    members: dict[str, list[Alert]] = {}
    routes: dict[str, tuple[Route, dict[str, str]]] = {}
    for alert in alerts:
        labels = alert_labels(alert)
        age = alert_age(alert, now) if now is not None else None
        for route in root.route(labels, age):
            values = route.group_labels(labels)
            key = group_key(route, values)
            members.setdefault(key, []).append(alert)
            routes.setdefault(key, (route, values))
    for key, entry in (logs or {}).items():
        if key in routes or not entry.firing:
            continue
        route_node = root.find(entry.route)
        if route_node is not None and route_node.receiver == entry.receiver:
            routes[key] = (route_node, dict(entry.labels))
            members[key] = []
    return {
        key: AlertGroup(
            key=key,
            route=route,
            labels=values,
            alerts=tuple(sorted(members[key], key=_alert_order)),
        )
        for key, (route, values) in sorted(routes.items())
    }


def _alert_order(alert: Alert) -> tuple[str, str, str, str]:
    f = alert.finding
    return (f.device_name.casefold(), f.device_id, f.subject_name.casefold(), alert.fingerprint)


def should_notify(
    firing: Set[str],
    resolved: Set[str],
    last: NotificationLogEntry | None,
    now: datetime,
    *,
    repeat_interval: timedelta,
    send_resolved: bool,
    escalation: bool = False,
) -> NotifyReason | None:
    """Why the group should speak now, or None.

    ``first``: something fires that the receiver has not been told about (``escalated``
    instead on a route alerts reach by age, ``escalation``).
    ``resolved``: something it was told about no longer fires (and it wants to know).
    ``repeat``: nothing changed, something fires, and ``repeat_interval`` has passed
    since the last message.
    """
    told = last.firing if last is not None else frozenset()
    if firing - told:
        return NotifyReason.ESCALATED if escalation else NotifyReason.FIRST
    if resolved and send_resolved:
        return NotifyReason.RESOLVED
    due = last is not None and last.sent_at is not None and now - last.sent_at >= repeat_interval
    return NotifyReason.REPEAT if firing and due else None


@dataclass(frozen=True, slots=True)
class GroupDecision:
    """The outcome of evaluating one group at ``now``.

    ``firing``: the alerts to show as firing; ``new``: those the receiver has not heard
    of; ``resolved``: alerts to show as resolved (``resolved_gone`` more whose rows are
    gone). ``entry`` is the log entry to write (None when nothing changed).
    """

    group: AlertGroup
    reason: NotifyReason | None
    firing: tuple[Alert, ...]
    new: frozenset[str]
    resolved: tuple[Alert, ...]
    resolved_gone: int
    entry: NotificationLogEntry | None

    @property
    def resolved_count(self) -> int:
        """How many alerts resolve in this message, rows or not."""
        return len(self.resolved) + self.resolved_gone

    @property
    def severity(self) -> str:
        """The highest severity among the firing alerts ("" when none fires)."""
        ranked = [a.finding.severity for a in self.firing]
        return max(ranked, key=lambda s: s.rank).value if ranked else ""


def decide(
    group: AlertGroup,
    last: NotificationLogEntry | None,
    now: datetime,
    *,
    muted: Set[str],
    send_resolved: bool,
    still_firing: Set[str] = frozenset(),
) -> GroupDecision:
    """Evaluate one group: what fires, what resolved, and whether to say so.

    ``still_firing``: every alert firing anywhere; one the group was told about that
    fires but is no longer in the group moved to another route, and is not resolved.
    """
    active = group.announceable()
    firing = active - muted
    told = last.firing if last is not None else frozenset()
    gone = frozenset(fp for fp in told - active if fp not in muted)
    moved = gone & still_firing
    resolved = gone - moved
    still_muted = frozenset(fp for fp in told if fp in muted)
    reason = should_notify(
        firing, resolved, last, now,
        repeat_interval=group.route.repeat_interval, send_resolved=send_resolved,
        escalation=group.route.escalates,
    )

    entry: NotificationLogEntry | None = None
    if reason is not None:
        entry = _entry(group, firing | still_muted, sent_at=now, now=now, reason=reason)
    elif resolved or moved:
        # Moved away, or resolutions the receiver does not want: forget them quietly.
        entry = _entry(
            group, told - resolved - moved, sent_at=last.sent_at if last else None, now=now,
            reason=last.reason if last else None,
        )

    show_resolved = reason is NotifyReason.RESOLVED or (
        reason is not None and send_resolved and bool(resolved)
    )
    resolved_alerts = tuple(a for a in group.alerts if a.fingerprint in resolved)
    return GroupDecision(
        group=group,
        reason=reason,
        firing=tuple(a for a in group.alerts if a.fingerprint in firing),
        new=frozenset(firing - told),
        resolved=resolved_alerts if show_resolved else (),
        resolved_gone=(len(resolved) - len(resolved_alerts)) if show_resolved else 0,
        entry=entry,
    )


def _entry(
    group: AlertGroup,
    firing: frozenset[str],
    *,
    sent_at: datetime | None,
    now: datetime,
    reason: NotifyReason | None,
) -> NotificationLogEntry:
    return NotificationLogEntry(
        group_key=group.key,
        receiver=group.receiver,
        route=group.route.path,
        labels=dict(group.labels),
        firing=firing,
        sent_at=sent_at,
        updated_at=now,
        reason=reason,
    )
