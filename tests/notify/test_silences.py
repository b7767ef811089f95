"""Silences: matchers, fixed spans and recurring windows in a time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.config import MatcherConfig, RecurringWindow, SilenceConfig
from monitor.errors import ConfigError
from monitor.notify.silences import (
    Silencer,
    from_config,
    matcher_matches,
    window_active,
)
from monitor.store.base import Matcher

LABELS = {"device_name": "Lab-Mac-07", "severity": "warning", "rule_id": "kandji.x"}


@pytest.mark.parametrize(
    ("op", "name", "value", "expected"),
    [
        ("=", "severity", "warning", True),
        ("=", "severity", "critical", False),
        ("!=", "severity", "critical", True),
        ("=~", "device_name", "Lab-.*", True),
        ("=~", "device_name", "Lab", False),  # full match, not search
        ("!~", "device_name", "Lab-.*", False),
        ("!~", "device_name", "Office-.*", True),
        ("=", "missing", "", True),  # an absent label is the empty string
        ("!=", "missing", "x", True),
    ],
)
def test_matchers(op: Any, name: str, value: str, expected: bool) -> None:
    assert matcher_matches(Matcher(name, op, value), LABELS) is expected


def paris(days: list[Any], start: str, end: str) -> RecurringWindow:
    return RecurringWindow(days=days, start=start, end=end, timezone="Europe/Paris")


# 2026-01-09 is a Friday; Paris is UTC+1 in January and UTC+2 in July.
@pytest.mark.parametrize(
    ("window", "when_utc", "expected"),
    [
        # Friday 22:00 -> Saturday 06:00 Paris time
        (paris(["fri"], "22:00", "06:00"), datetime(2026, 1, 9, 20, 59, tzinfo=UTC), False),
        (paris(["fri"], "22:00", "06:00"), datetime(2026, 1, 9, 21, 0, tzinfo=UTC), True),
        (paris(["fri"], "22:00", "06:00"), datetime(2026, 1, 10, 4, 59, tzinfo=UTC), True),
        (paris(["fri"], "22:00", "06:00"), datetime(2026, 1, 10, 5, 0, tzinfo=UTC), False),
        # Saturday night is not Friday night
        (paris(["fri"], "22:00", "06:00"), datetime(2026, 1, 10, 22, 0, tzinfo=UTC), False),
        # the early-morning part belongs to the previous day's window
        (paris(["sat"], "22:00", "06:00"), datetime(2026, 1, 10, 4, 0, tzinfo=UTC), False),
        # summer time moves the window by an hour in UTC
        (paris(["fri"], "22:00", "06:00"), datetime(2026, 7, 10, 20, 0, tzinfo=UTC), True),
        (paris(["fri"], "22:00", "06:00"), datetime(2026, 7, 10, 19, 59, tzinfo=UTC), False),
        # a same-day window
        (paris(["mon", "tue"], "09:00", "17:00"), datetime(2026, 1, 5, 8, 0, tzinfo=UTC), True),
        (paris(["mon", "tue"], "09:00", "17:00"), datetime(2026, 1, 5, 16, 0, tzinfo=UTC), False),
        # start == end: the whole day
        (paris(["sun"], "00:00", "00:00"), datetime(2026, 1, 11, 12, 0, tzinfo=UTC), True),
        (paris(["sun"], "00:00", "00:00"), datetime(2026, 1, 12, 12, 0, tzinfo=UTC), False),
    ],
)
def test_recurring_windows(window: RecurringWindow, when_utc: datetime, expected: bool) -> None:
    assert window_active(window, when_utc) is expected


def test_config_silence_with_fixed_span() -> None:
    silence = from_config(
        SilenceConfig(
            matchers=[MatcherConfig(name="device_name", op="=~", value="Lab-.*")],
            starts_at="2026-01-05T10:00:00+01:00",
            ends_at="2026-01-05T12:00:00Z",
        ),
        0,
    )
    silencer = Silencer([silence])
    assert silencer.silenced_by(LABELS, datetime(2026, 1, 5, 8, 59, tzinfo=UTC)) is None
    assert silencer.silenced_by(LABELS, datetime(2026, 1, 5, 9, 0, tzinfo=UTC)) is silence
    assert silencer.silenced_by({"device_name": "Office"}, datetime(2026, 1, 5, 10, 0,
                                                                     tzinfo=UTC)) is None
    assert silencer.silenced_by(LABELS, datetime(2026, 1, 5, 12, 0, tzinfo=UTC)) is None


def test_config_silence_with_bad_timestamp_is_a_config_error() -> None:
    bad = SilenceConfig(matchers=[MatcherConfig(name="a", value="b")], starts_at="tomorrow")
    with pytest.raises(ConfigError, match=r"silences\.3\.starts_at"):
        from_config(bad, 3)
