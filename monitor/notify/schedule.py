"""Calendars in a time zone: send windows and weekly schedules. Pure.

Two shapes, both read in the zone they name, so "Mondays 09:00 Europe/Paris" stays at
09:00 in Paris across daylight-saving changes:

- :class:`SendWindow`: days of the week and a span of hours (``09:00``-``17:00``; a span
  whose end is not after its start runs past midnight and belongs to the day it
  starts). :func:`window_id` names the occurrence a moment falls in, so "one message
  per window" is a comparison of two strings.
- :class:`WeeklySchedule`: days of the week and a time of day. :func:`latest_slot` is
  the newest slot at or before a moment; a run is due when that slot is later than the
  last run (a missed slot is caught up once, never twice).

Every function takes ``now`` (aware); nothing here reads the clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from monitor.clock import utc

DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_clock_time(text: str) -> time:
    """``"09:30"`` as a time (the config has checked the shape)."""
    hours, minutes = text.split(":", 1)
    return time(int(hours), int(minutes))


def day_numbers(names: Iterable[str]) -> frozenset[int]:
    """Weekday names (``mon``...) as ``date.weekday()`` numbers."""
    return frozenset(DAY_NAMES.index(n) for n in names)


@dataclass(frozen=True, slots=True)
class SendWindow:
    """When messages may go out: ``days`` (0 = Monday) from ``start`` to ``end`` in ``tz``."""

    days: frozenset[int]
    start: time
    end: time
    tz: ZoneInfo

    @classmethod
    def always(cls) -> SendWindow:
        """A window that never closes (every day, all day, UTC)."""
        return cls(frozenset(range(7)), time(0, 0), time(0, 0), ZoneInfo("UTC"))

    def _span(self, day: date) -> tuple[datetime, datetime]:
        start = datetime.combine(day, self.start, tzinfo=self.tz)
        end_day = day if self.end > self.start else day + timedelta(days=1)
        end = datetime.combine(end_day, self.end, tzinfo=self.tz)
        return utc(start), utc(end)


def window_id(window: SendWindow, now: datetime) -> str | None:
    """The occurrence of ``window`` that ``now`` falls in (its local start date), or None
    when ``now`` is outside every occurrence."""
    local = now.astimezone(window.tz).date()
    for day in (local, local - timedelta(days=1)):
        if day.weekday() not in window.days:
            continue
        start, end = window._span(day)
        if start <= now < end:
            return day.isoformat()
    return None


def next_opening(window: SendWindow, now: datetime) -> datetime | None:
    """``now`` when inside the window, else the start of its next occurrence (None when
    the window has no day at all)."""
    if window_id(window, now) is not None:
        return now
    local = now.astimezone(window.tz).date()
    for offset in range(8):
        day = local + timedelta(days=offset)
        if day.weekday() in window.days:
            start, _ = window._span(day)
            if start > now:
                return start
    return None


def local_day(now: datetime, tz: ZoneInfo) -> str:
    """The calendar date of ``now`` in ``tz`` (what a per-day cap counts in)."""
    return now.astimezone(tz).date().isoformat()


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """Runs on ``days`` (0 = Monday) at ``at`` in ``tz``."""

    days: frozenset[int]
    at: time
    tz: ZoneInfo


def latest_slot(schedule: WeeklySchedule, now: datetime) -> datetime | None:
    """The newest slot at or before ``now`` (within the last eight days), in UTC."""
    local = now.astimezone(schedule.tz).date()
    for offset in range(9):
        day = local - timedelta(days=offset)
        if day.weekday() not in schedule.days:
            continue
        slot = utc(datetime.combine(day, schedule.at, tzinfo=schedule.tz))
        if slot <= now:
            return slot
    return None


def next_slot(schedule: WeeklySchedule, now: datetime) -> datetime | None:
    """The first slot strictly after ``now``, in UTC (None when no day is set)."""
    local = now.astimezone(schedule.tz).date()
    for offset in range(9):
        day = local + timedelta(days=offset)
        if day.weekday() not in schedule.days:
            continue
        slot = utc(datetime.combine(day, schedule.at, tzinfo=schedule.tz))
        if slot > now:
            return slot
    return None


def slot_due(schedule: WeeklySchedule, last_run: datetime | None, now: datetime) -> datetime | None:
    """The slot to run now, or None: the latest slot when it is later than ``last_run``.

    With no ``last_run`` nothing is due: the first start only records ``now``, so a
    fresh install does not send last Monday's digest on a Wednesday.
    """
    if last_run is None:
        return None
    slot = latest_slot(schedule, now)
    if slot is None or slot <= last_run:
        return None
    return slot
