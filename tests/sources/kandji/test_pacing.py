"""What a paced sweep may spend, and the order library items take it: pure decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.sources.kandji.pacing import fit, item_news, item_order, sweep_pace

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headroom", "to_reset", "pace"),
    [
        (None, 3600.0, 395),  # 5,000 an hour, 5% kept back, a 5-minute share
        (10_000, 3600.0, 395),  # the tenant has more than the own budget allows
        (2_700, 1800.0, 450),  # 2,700 left for half an hour: 450 per 5 minutes... own caps
        (1_200, 1800.0, 200),  # ...but a poorer tenant spreads what it has left
        (100, 120.0, 100),  # the window resets before the next sweep: all of it now
        (-50, 1800.0, 0),  # nothing left for this monitor
    ],
)
def test_a_sweep_spends_what_its_interval_earns(
    headroom: int | None, to_reset: float, pace: int
) -> None:
    own = sweep_pace(5000, 0.05, 300.0)
    assert own == 395
    assert sweep_pace(5000, 0.05, 300.0, headroom, to_reset) == min(own, pace)


def test_a_pace_needs_an_interval() -> None:
    with pytest.raises(ValueError, match="interval"):
        sweep_pace(5000, 0.05, 0.0)


def test_fit_skips_what_does_not_fit_and_may_always_take_the_head() -> None:
    assert fit([3, 5, 2, 1], None) == [True, True, True, True]
    assert fit([3, 5, 2, 1], 6) == [True, False, True, True]
    assert fit([9, 2], 5) == [False, True]
    assert fit([9, 2], 5, head_always=True) == [True, False]
    assert fit([9, 2], 0, head_always=True) == [False, False], "nothing to spend: nothing"


def test_items_read_longest_ago_go_first_then_failing_ones_then_news() -> None:
    ids = ["a", "b", "c", "d", "e"]
    last_read = {"a": 4, "b": 4, "c": 3, "d": 4}  # e: never read
    news = {"a": 10.0, "b": 50.0, "d": 50.0}
    order = item_order(ids, last_read, {"a"}, news)
    assert [ids[k] for k in order] == ["e", "c", "a", "b", "d"]


def test_news_counts_the_devices_that_checked_in_since_each_items_read() -> None:
    groups = {"g1": ["i1", "i2"], "g2": ["i2"]}
    read_at = {"i1": T0, "i2": T0 + timedelta(minutes=10)}
    check_ins = [
        ("g1", T0 + timedelta(minutes=5)),
        ("g1", T0 + timedelta(minutes=15)),
        ("g2", T0 + timedelta(minutes=20)),
        ("g2", None),
    ]
    news = item_news({"i1": 1, "i2": 2, "i3": 1}, groups, read_at, check_ins)
    assert news == {"i1": 2.0, "i2": 1.0, "i3": 0.0}
    never = item_news({"i1": 1}, groups, {}, check_ins)
    assert never == {"i1": 2.0}, "never read: every device that ever checked in"
