"""The digest of a period, from stored alerts and transitions. Pure.

An alert fired over an interval: from ``firing_since`` to the moment it resolved (or
now, while it fires). Intervals come from the alerts the store still holds and from
the "resolved" transitions of the period (their alert body carries ``firing_since``),
so an alert whose row expired still counts on the days it fired. From the intervals::

    trend     firing alerts per calendar day (in the digest's zone): every interval
              that overlaps the day
    new       intervals that started in the period
    resolved  intervals that ended in the period
    counts    what fires now, by rule, severity, source and blueprint
    oldest    what fires now, longest first
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Required, TypedDict
from zoneinfo import ZoneInfo

from monitor.clock import utc
from monitor.models import Alert, AlertState, Severity, Transition


@dataclass(frozen=True, slots=True)
class Interval:
    """One alert's run of firing: ``end`` None while it still fires."""

    alert: Alert
    start: datetime
    end: datetime | None

    def overlaps(self, lo: datetime, hi: datetime) -> bool:
        """Whether it fired at some moment in ``[lo, hi)``."""
        return self.start < hi and (self.end is None or self.end > lo)


def firing_intervals(
    alerts: Iterable[Alert], transitions: Iterable[Transition]
) -> list[Interval]:
    """Every firing interval the stored alerts and transitions show (baseline ones too:
    they fired, they were only not announced)."""
    found: dict[tuple[str, datetime], Interval] = {}
    for t in transitions:
        a = t.alert
        resolved = t.current is AlertState.RESOLVED and t.previous is AlertState.FIRING
        if resolved and a.firing_since is not None:
            found[(a.fingerprint, a.firing_since)] = Interval(a, a.firing_since, t.at)
    for a in alerts:
        if a.firing_since is None:
            continue
        end = a.resolved_at if a.state is AlertState.RESOLVED else None
        key = (a.fingerprint, a.firing_since)
        if key not in found or end is None:
            found[key] = Interval(a, a.firing_since, end)
    return sorted(found.values(), key=lambda i: (i.start, i.alert.fingerprint))


def daily_firing(
    intervals: Sequence[Interval], now: datetime, days: int, tz: ZoneInfo
) -> list[tuple[date, int]]:
    """Firing alerts on each of the last ``days`` calendar days in ``tz``, oldest first
    (today counts up to ``now``)."""
    today = now.astimezone(tz).date()
    out = []
    for offset in range(days - 1, -1, -1):
        day = today - timedelta(days=offset)
        lo = utc(datetime.combine(day, time(0), tzinfo=tz))
        hi = min(utc(datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)), now)
        out.append((day, sum(1 for i in intervals if i.overlaps(lo, hi))))
    return out


@dataclass(frozen=True, slots=True)
class Digest:
    """Everything a digest or report shows (see the module docstring)."""

    title: str
    generated_at: datetime
    since: datetime
    timezone: str
    verdict: str
    firing: tuple[Alert, ...]
    devices: int
    by_rule: tuple[tuple[str, int], ...]
    by_severity: tuple[tuple[str, int], ...]
    by_source: tuple[tuple[str, int], ...]
    by_blueprint: tuple[tuple[str, int], ...]
    new: tuple[Interval, ...]
    resolved: tuple[Interval, ...]
    oldest: tuple[Alert, ...]
    trend: tuple[tuple[date, int], ...]


def _counts(values: Iterable[str]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(Counter(values).items(), key=lambda kv: (-kv[1], kv[0])))


def _since(alert: Alert) -> datetime:
    return alert.firing_since or alert.active_since


def verdict(firing: Sequence[Alert], devices: int, new: int, resolved: int, period: str) -> str:
    """The one line on top: how things stand and which way they moved."""
    moved = f"{new} new, {resolved} resolved {period}"
    if not firing:
        return f"All clear: nothing is firing ({moved})."
    worst = max((a.severity for a in firing), key=lambda s: s.rank, default=Severity.INFO)
    plural = "" if len(firing) == 1 else "s"
    dplural = "" if devices == 1 else "s"
    direction = "better" if resolved > new else "worse" if new > resolved else "unchanged"
    return (f"{len(firing)} alert{plural} firing on {devices} device{dplural}, worst "
            f"{worst.value}; {direction} ({moved}).")


def period_words(period: timedelta) -> str:
    """``this week``, ``in the last 30 days``, ``today``..."""
    if period == timedelta(days=7):
        return "this week"
    if period == timedelta(days=1):
        return "today"
    if period % timedelta(days=1) == timedelta(0):
        return f"in the last {period.days} days"
    return f"in the last {int(period.total_seconds() // 3600)} hours"


TREND_DAYS = 30
"""How many days the trend covers unless told otherwise."""


class DigestOptions(TypedDict, total=False):
    """What a digest covers and how it is titled; see :func:`summarize`."""

    period: Required[timedelta]
    trend_days: int
    tz: ZoneInfo | None
    keep: Callable[[Alert], bool] | None
    oldest: int
    title: str


def summarize(
    alerts: Mapping[str, Alert],
    transitions: Sequence[Transition],
    now: datetime,
    *,
    period: timedelta,
    trend_days: int = TREND_DAYS,
    tz: ZoneInfo | None = None,
    keep: Callable[[Alert], bool] | None = None,
    oldest: int = 10,
    title: str = "Compliance digest",
) -> Digest:
    """The digest at ``now`` of the ``period`` before it; ``keep`` scopes the alerts."""
    zone = tz or ZoneInfo("UTC")
    since = now - period
    intervals = [
        i for i in firing_intervals(alerts.values(), transitions)
        if keep is None or keep(i.alert)
    ]
    firing = tuple(sorted(
        (a for a in alerts.values()
         if a.state is AlertState.FIRING and (keep is None or keep(a))),
        key=lambda a: (_since(a), a.fingerprint),
    ))
    new = tuple(i for i in intervals if since <= i.start <= now)
    resolved = tuple(i for i in intervals if i.end is not None and since <= i.end <= now)
    devices = len({(a.finding.source, a.finding.device_id) for a in firing})
    return Digest(
        title=title,
        generated_at=now,
        since=since,
        timezone=str(zone),
        verdict=verdict(firing, devices, len(new), len(resolved), period_words(period)),
        firing=firing,
        devices=devices,
        by_rule=_counts(a.rule_id for a in firing),
        by_severity=_counts(a.severity.value for a in firing),
        by_source=_counts(a.finding.source for a in firing),
        by_blueprint=_counts(a.finding.labels.get("blueprint", "") or "(none)" for a in firing),
        new=new,
        resolved=resolved,
        oldest=firing[:oldest],
        trend=tuple(daily_firing(intervals, now, trend_days, zone)),
    )
