"""Send windows and weekly schedules in a time zone, on fixed instants."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from monitor.notify.schedule import (
    SendWindow,
    WeeklySchedule,
    day_numbers,
    latest_slot,
    next_opening,
    next_slot,
    slot_due,
    window_id,
)

PARIS = ZoneInfo("Europe/Paris")
WORKDAYS = SendWindow(day_numbers(["mon", "tue", "wed", "thu", "fri"]), time(9), time(17), PARIS)
NIGHTS = SendWindow(day_numbers(["mon"]), time(22), time(6), PARIS)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("window", "now", "expected"),
    [
        # Monday 2026-01-05; Paris is UTC+1 in winter.
        (WORKDAYS, "2026-01-05T07:59", None),
        (WORKDAYS, "2026-01-05T08:00", "2026-01-05"),
        (WORKDAYS, "2026-01-05T15:59", "2026-01-05"),
        (WORKDAYS, "2026-01-05T16:00", None),
        (WORKDAYS, "2026-01-10T10:00", None),  # Saturday
        # Summer time: UTC+2, the window follows local hours.
        (WORKDAYS, "2026-07-06T07:00", "2026-07-06"),
        (WORKDAYS, "2026-07-06T15:30", None),
        # A window across midnight belongs to the day it starts.
        (NIGHTS, "2026-01-05T21:30", "2026-01-05"),
        (NIGHTS, "2026-01-06T04:00", "2026-01-05"),
        (NIGHTS, "2026-01-06T05:00", None),
        (NIGHTS, "2026-01-06T21:30", None),
    ],
)
def test_window_occurrence_in_local_hours(
    window: SendWindow, now: str, expected: str | None
) -> None:
    assert window_id(window, at(now)) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-01-05T10:00", "2026-01-05T10:00"),  # inside: now
        ("2026-01-05T17:00", "2026-01-06T08:00"),  # after hours: next morning
        ("2026-01-09T16:30", "2026-01-12T08:00"),  # Friday evening: Monday
    ],
)
def test_next_opening(now: str, expected: str) -> None:
    assert next_opening(WORKDAYS, at(now)) == at(expected)


MONDAY_9_PARIS = WeeklySchedule(day_numbers(["mon"]), time(9), PARIS)


@pytest.mark.parametrize(
    ("now", "latest", "following"),
    [
        ("2026-01-05T07:59", "2025-12-29T08:00", "2026-01-05T08:00"),
        ("2026-01-05T08:00", "2026-01-05T08:00", "2026-01-12T08:00"),
        ("2026-01-07T12:00", "2026-01-05T08:00", "2026-01-12T08:00"),
        ("2026-07-06T07:00", "2026-07-06T07:00", "2026-07-13T07:00"),  # summer: UTC+2
    ],
)
def test_weekly_slots(now: str, latest: str, following: str) -> None:
    assert latest_slot(MONDAY_9_PARIS, at(now)) == at(latest)
    assert next_slot(MONDAY_9_PARIS, at(now)) == at(following)


@pytest.mark.parametrize(
    ("last_run", "now", "due"),
    [
        (None, "2026-01-05T09:00", None),  # first start only records the time
        ("2026-01-05T07:00", "2026-01-05T07:59", None),
        ("2026-01-05T07:00", "2026-01-05T08:00", "2026-01-05T08:00"),
        ("2026-01-05T08:00", "2026-01-05T09:00", None),  # sent once, not twice
        ("2026-01-01T00:00", "2026-01-14T00:00", "2026-01-12T08:00"),  # missed: caught up once
    ],
)
def test_slot_due(last_run: str | None, now: str, due: str | None) -> None:
    result = slot_due(MONDAY_9_PARIS, at(last_run) if last_run else None, at(now))
    assert result == (at(due) if due else None)
