"""The trend of firing alerts per day, read from the store and kept for a few minutes.

The status page shows the same 30-day trend as the digests. It reloads every half
minute and a trend moves by the day, so :class:`TrendCache` reads the store (alerts
plus 30 days of transitions) at most once per ``ttl`` and answers from memory between.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.digest.summary import daily_firing, firing_intervals
from monitor.store.base import Store


async def daily_trend(
    store: Store, now: datetime, days: int = 30, tz: ZoneInfo | None = None
) -> list[tuple[date, int]]:
    """Firing alerts on each of the last ``days`` days (oldest first)."""
    alerts = await store.load_alerts()
    transitions = [e.transition for e in await store.transitions_since(now - timedelta(days=days))]
    intervals = firing_intervals(alerts.values(), transitions)
    return daily_firing(intervals, now, days, tz or ZoneInfo("UTC"))


class TrendCache:
    """:func:`daily_trend`, recomputed at most once per ``ttl``."""

    def __init__(self, store: Store, *, days: int = 30, ttl: timedelta = timedelta(minutes=5)):
        self._store = store
        self._days = days
        self._ttl = ttl
        self._value: list[tuple[date, int]] = []
        self._at: datetime | None = None

    def __repr__(self) -> str:
        return f"TrendCache(days={self._days}, ttl={self._ttl})"

    async def get(self, now: datetime) -> list[tuple[date, int]]:
        """The trend at ``now`` (at most ``ttl`` old)."""
        if self._at is None or now - self._at >= self._ttl or now < self._at:
            self._value = await daily_trend(self._store, now, self._days)
            self._at = now
        return list(self._value)
