"""What the operator's view shows: plain frozen dataclasses, and pure functions over them.

The web layer never sees the store, the sweepers or the config. Whoever implements
:class:`~monitor.web.provider.StatusProvider` maps its own state to these views; the
``from_*`` constructors cover the shared models so that mapping is one call.

Every datetime here is aware UTC. ``to_json`` turns a view into JSON-ready values
(datetimes become ISO 8601 strings).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from monitor.clock import format_age
from monitor.models import Alert, AlertState, Severity, SourceKind, SweepStats, projected


@dataclass(frozen=True, slots=True)
class AlertView:
    """One alert as the operator sees it.

    ``silenced``: a silence matches it now (it is shown apart and not announced).
    ``inhibited``: muted because its device stopped checking in or left the MDM (a
    firing ``monitor.device.silent``/``gone`` alert on the same device); shown apart
    with the silenced ones.
    ``console_link``: the device's page in the MDM's web console, when known
    (see :func:`monitor.sources.links.device_link`); ``console_exact`` is False when
    the link opens the console the device can be found in, not the device's own page.
    """

    fingerprint: str
    state: AlertState
    silenced: bool
    rule_id: str
    severity: Severity
    source: str
    source_kind: SourceKind
    device_id: str
    device_name: str
    device_serial: str
    subject_kind: str
    subject_name: str
    subject_status: str
    summary: str
    active_since: datetime
    firing_since: datetime | None = None
    resolved_at: datetime | None = None
    console_link: str | None = None
    inhibited: bool = False
    console_exact: bool = True

    @property
    def muted(self) -> bool:
        """Not announced: silenced, or inhibited by its device's state."""
        return self.silenced or self.inhibited

    @classmethod
    def from_alert(
        cls,
        alert: Alert,
        *,
        silenced: bool = False,
        console_link: str | None = None,
        inhibited: bool = False,
        console_exact: bool = True,
    ) -> AlertView:
        """The view of a persisted :class:`~monitor.models.Alert` (each field from the
        alert, else from its finding)."""
        return cls(
            **projected(
                cls, alert, alert.finding,
                silenced=silenced, console_link=console_link, inhibited=inhibited,
                console_exact=console_exact, subject_kind=str(alert.finding.subject_kind),
            )
        )


@dataclass(frozen=True, slots=True)
class SweepView:
    """One finished sweep of one source."""

    started_at: datetime
    duration_s: float
    ok: bool
    devices: int
    requests: int
    errors: int
    findings: int

    @classmethod
    def from_stats(cls, stats: SweepStats) -> SweepView:
        """The view of a :class:`~monitor.models.SweepStats`."""
        return cls(**projected(cls, stats))


@dataclass(frozen=True, slots=True)
class SourceView:
    """One configured source (a Kandji tenant, an Applivery organization) and its health.

    ``sweeps``: the recent sweeps, oldest first. ``budget_remaining``: requests left in
    the current budget window (None when unknown); ``budget_per_hour``: the configured
    hourly budget. ``tenant_remaining``/``tenant_limit``: what the whole tenant (every
    integration) has left of its hour, from the vendor's rate-limit headers, and
    ``own_share`` this monitor's share of what the tenant spent (None when unknown).
    ``cadence_s``/``interval_s``: the time between sweeps the budget affords now (None
    before the first sweep) and the configured interval, the longest it may be.
    ``last_error`` must already be free of secrets (the page redacts registered secrets
    again, as a second line of defence).
    """

    name: str
    kind: SourceKind
    healthy: bool
    last_success: datetime | None
    consecutive_failures: int
    last_error: str
    budget_remaining: float | None
    budget_per_hour: int
    sweeps: tuple[SweepView, ...] = ()
    tenant_remaining: float | None = None
    tenant_limit: int | None = None
    own_share: float | None = None
    cadence_s: float | None = None
    interval_s: float | None = None
    #: The instance holding the source's lease (sweeping it), and until when.
    holder: str | None = None
    lease_expires_at: datetime | None = None

    @property
    def last_sweep(self) -> SweepView | None:
        """The most recent sweep, if any."""
        return self.sweeps[-1] if self.sweeps else None

    @property
    def budget_fraction(self) -> float | None:
        """Remaining budget as a fraction of the hourly budget (0..1), when known."""
        if self.budget_remaining is None or self.budget_per_hour <= 0:
            return None
        return max(0.0, min(1.0, self.budget_remaining / self.budget_per_hour))


@dataclass(frozen=True, slots=True)
class SilenceView:
    """One silence. ``matchers`` is already text (``rule_id="x", device_name=~"Lab.*"``).

    ``starts_at``/``ends_at`` are None for a recurring window or an open end;
    ``active`` says whether it mutes matching alerts right now.
    """

    id: str
    matchers: str
    starts_at: datetime | None
    ends_at: datetime | None
    comment: str
    author: str
    active: bool


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    """One notification given up on after its last delivery attempt.

    ``group_title``: the message's title; ``group_key``: the aggregation group it was
    for. ``reason``: why it was sent (``firing``, ``resolved``, ``repeat``...).
    ``failed_at``: when it was given up on (as recorded by the outbox). ``last_error``
    must already be free of secrets (the page and the API redact registered secrets
    again). An operator requeues it with ``compliance-monitor outbox retry ID``.
    """

    id: int
    receiver: str
    group_title: str
    group_key: str
    reason: str
    attempts: int
    last_error: str
    created_at: datetime
    failed_at: datetime


@dataclass(frozen=True, slots=True)
class Summary:
    """The numbers of the summary bar."""

    firing: int
    pending: int
    silenced: int
    resolved: int
    devices_affected: int
    firing_by_severity: dict[str, int]
    sources_total: int
    sources_healthy: int
    silences_active: int
    inhibited: int = 0
    dead_letters: int = 0

    @property
    def status(self) -> str:
        """One word for the whole picture: ``ok``, ``degraded`` or ``firing``.

        ``firing`` wins over ``degraded``: a broken source or an undelivered message
        (dead letter) is serious, but a known problem on devices is what someone must
        act on.
        """
        if self.firing:
            return "firing"
        if self.sources_healthy < self.sources_total or self.dead_letters:
            return "degraded"
        return "ok"


@dataclass(frozen=True, slots=True)
class AlertGroup:
    """Firing alerts of one rule at one severity."""

    rule_id: str
    severity: Severity
    alerts: tuple[AlertView, ...]

    @property
    def devices(self) -> int:
        """How many distinct devices the group covers."""
        return len({(a.source, a.device_id) for a in self.alerts})


def summarize(
    alerts: Iterable[AlertView],
    sources: Sequence[SourceView],
    silences: Iterable[SilenceView],
    dead_letters: Sequence[DeadLetterView] = (),
) -> Summary:
    """Count what the summary bar shows.

    A muted alert (silenced or inhibited) counts only as silenced; ``inhibited`` says
    how many of those are muted by their device's state rather than by a silence.
    """
    firing = pending = silenced = resolved = inhibited = 0
    by_severity = {str(s): 0 for s in sorted(Severity, key=lambda s: -s.rank)}
    devices: set[tuple[str, str]] = set()
    for a in alerts:
        if a.state is AlertState.RESOLVED:
            resolved += 1
        elif a.muted:
            silenced += 1
            inhibited += 0 if a.silenced else 1
        elif a.state is AlertState.FIRING:
            firing += 1
            by_severity[str(a.severity)] += 1
            devices.add((a.source, a.device_id))
        else:
            pending += 1
    return Summary(
        firing=firing,
        pending=pending,
        silenced=silenced,
        resolved=resolved,
        devices_affected=len(devices),
        firing_by_severity=by_severity,
        sources_total=len(sources),
        sources_healthy=sum(1 for s in sources if s.healthy),
        silences_active=sum(1 for s in silences if s.active),
        inhibited=inhibited,
        dead_letters=len(dead_letters),
    )


def group_firing(alerts: Iterable[AlertView]) -> list[AlertGroup]:
    """Unmuted firing alerts grouped by rule and severity, most severe and largest first."""
    groups: dict[tuple[str, Severity], list[AlertView]] = {}
    for a in alerts:
        if a.state is AlertState.FIRING and not a.muted:
            groups.setdefault((a.rule_id, a.severity), []).append(a)
    result = [
        AlertGroup(rule_id, severity, tuple(sorted(items, key=_device_order)))
        for (rule_id, severity), items in groups.items()
    ]
    result.sort(key=lambda g: (-g.severity.rank, -len(g.alerts), g.rule_id))
    return result


def _device_order(a: AlertView) -> tuple[str, str, str]:
    return (a.device_name.casefold(), a.device_serial, a.subject_name.casefold())


def pending_alerts(alerts: Iterable[AlertView]) -> list[AlertView]:
    """Unmuted pending alerts, most severe then oldest first."""
    items = [a for a in alerts if a.state is AlertState.PENDING and not a.muted]
    items.sort(key=lambda a: (-a.severity.rank, a.active_since, a.device_name.casefold()))
    return items


def silenced_alerts(alerts: Iterable[AlertView]) -> list[AlertView]:
    """Muted (silenced or inhibited) alerts that are not resolved, most severe first."""
    items = [a for a in alerts if a.muted and a.state is not AlertState.RESOLVED]
    items.sort(key=lambda a: (-a.severity.rank, a.rule_id, a.device_name.casefold()))
    return items


def resolved_alerts(alerts: Iterable[AlertView]) -> list[AlertView]:
    """Resolved alerts, most recently resolved first."""
    items = [a for a in alerts if a.state is AlertState.RESOLVED]
    items.sort(key=lambda a: a.resolved_at or a.active_since, reverse=True)
    return items


def matchers_text(matchers: Iterable[tuple[str, str, str]]) -> str:
    """``(name, op, value)`` triples as ``name="value", other=~"re.*"`` for :class:`SilenceView`."""
    return ", ".join(
        f"{name}{op}{json.dumps(value, ensure_ascii=False)}" for name, op, value in matchers
    )


def readiness_reasons(
    sources: Iterable[SourceView],
    expected_interval: Mapping[str, timedelta],
    now: datetime,
    *,
    slack: float = 2.0,
) -> list[str]:
    """Why the daemon is not ready, from its sources: one reason per stale source.

    A source is stale when it has never swept successfully, or not within ``slack``
    times its expected interval (one missed sweep is not yet a problem). An empty list
    means every source is fresh; the store's own reachability is the caller's to add.
    """
    reasons: list[str] = []
    for s in sources:
        interval = expected_interval.get(s.name)
        if interval is None:
            continue
        if s.last_success is None:
            reasons.append(f"source {s.name}: no successful sweep yet")
            continue
        age = now - s.last_success
        if age > interval * slack:
            reasons.append(
                f"source {s.name}: no successful sweep for {format_age(age.total_seconds())} "
                f"(expected every {format_age(interval.total_seconds())})"
            )
    return reasons


def to_json(value: Any) -> Any:
    """A view (or a list/dict of views) as JSON-ready values.

    Dataclasses become objects (their properties are not included), enums their value,
    datetimes ISO 8601 strings, tuples lists.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return value
