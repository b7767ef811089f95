"""The request budget: the hourly window is never exceeded, time moves on the fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from monitor.clock import FakeClock, SystemClock
from monitor.config import BudgetConfig
from monitor.errors import BudgetExhaustedError
from monitor.sources.budget import RequestBudget, RequestWindow


def max_in_any_window(stamps: Sequence[float], period: float) -> int:
    """The most events that fall in any half-open window [t, t + period)."""
    ordered = sorted(stamps)
    best = 0
    start = 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - period:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_hourly_window_is_never_exceeded_by_many_concurrent_callers() -> None:
    clock = FakeClock(autojump=True)
    budget = RequestBudget(
        BudgetConfig(requests_per_hour=7, burst_per_second=100, concurrency=3), clock
    )
    granted: list[float] = []

    async def caller() -> None:
        for _ in range(5):
            async with budget.slot():
                granted.append(clock.monotonic())

    await asyncio.gather(*(caller() for _ in range(6)))
    assert len(granted) == 30
    assert max_in_any_window(granted, 3600.0) <= 7
    assert budget.spent_total == 30
    # 30 slots at 7 an hour need at least four full windows of waiting.
    assert granted[-1] >= 4 * 3600


async def settle() -> None:
    """Let every runnable task run until it parks again."""
    for _ in range(50):
        await asyncio.sleep(0)


async def test_hour_holds_when_callers_queue_on_the_per_second_rate() -> None:
    # Seven callers see room in the hour at once, then queue on the per-second rate;
    # when a caller's turn comes the hour may be full, and must be checked again.
    clock = FakeClock()
    budget = RequestBudget(
        BudgetConfig(requests_per_hour=3, burst_per_second=1, concurrency=8), clock
    )
    granted: list[float] = []

    async def one() -> None:
        async with budget.slot():
            granted.append(clock.monotonic())

    tasks = [asyncio.create_task(one()) for _ in range(8)]
    for _ in range(10):
        await settle()
        clock.advance(1)
    await settle()
    assert granted == [0.0, 1.0, 2.0]
    clock.advance(3600)
    await settle()
    for _ in range(10):
        clock.advance(1)
        await settle()
    assert len(granted) == 6  # three more once the first hour has passed
    assert max_in_any_window(granted, 3600.0) <= 3
    assert max_in_any_window(granted, 1.0) <= 1
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_remaining_and_reserve_wait_follow_the_sliding_window() -> None:
    clock = FakeClock()
    budget = RequestBudget(BudgetConfig(requests_per_hour=3, burst_per_second=100), clock)
    assert budget.remaining == 3
    for _ in range(3):
        async with budget.slot():
            clock.advance(10)
    assert budget.remaining == 0
    # The first slot was taken at t=0, so room comes back at t=3600 (now t=30).
    assert budget.reserve_wait() == pytest.approx(3570)
    clock.advance(3570)
    assert budget.remaining == 1
    assert budget.reserve_wait() == 0
    snap = budget.snapshot()
    assert (snap.limit_per_hour, snap.remaining, snap.spent_total) == (3, 1, 3)


async def test_slot_waits_on_the_injected_clock_until_the_hour_frees_up() -> None:
    clock = FakeClock()
    budget = RequestBudget(BudgetConfig(requests_per_hour=1, burst_per_second=100), clock)
    async with budget.slot():
        pass
    entered = asyncio.Event()

    async def second() -> None:
        async with budget.slot():
            entered.set()

    task = asyncio.create_task(second())
    await asyncio.sleep(0)
    assert budget.waiting == 1
    clock.advance(3599)
    await asyncio.sleep(0)
    assert not entered.is_set()
    clock.advance(1)
    await asyncio.wait_for(task, timeout=5)
    assert entered.is_set()


async def test_max_wait_turns_a_long_wait_into_budget_exhausted() -> None:
    clock = FakeClock()
    budget = RequestBudget(BudgetConfig(requests_per_hour=1, burst_per_second=100), clock)
    async with budget.slot():
        pass
    with pytest.raises(BudgetExhaustedError) as info:
        async with budget.slot(max_wait=60):
            pass
    assert info.value.retry_after == pytest.approx(3600)
    assert info.value.retryable
    assert budget.spent_total == 1
    assert budget.waiting == 0


async def test_concurrency_caps_slots_held_at_once() -> None:
    clock = FakeClock()
    budget = RequestBudget(
        BudgetConfig(requests_per_hour=100, burst_per_second=100, concurrency=2), clock
    )
    release = asyncio.Event()
    peak = 0

    async def hold() -> None:
        nonlocal peak
        async with budget.slot():
            peak = max(peak, budget.in_flight)
            await release.wait()

    tasks = [asyncio.create_task(hold()) for _ in range(5)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert budget.in_flight == 2
    assert budget.waiting == 3
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 2
    assert budget.in_flight == 0


async def test_per_second_rate_on_a_fake_clock_uses_that_clock() -> None:
    clock = FakeClock(autojump=True)
    budget = RequestBudget(
        BudgetConfig(requests_per_hour=1000, burst_per_second=4, concurrency=8), clock
    )
    stamps: list[float] = []

    async def one() -> None:
        async with budget.slot():
            stamps.append(clock.monotonic())

    await asyncio.gather(*(one() for _ in range(20)))
    assert max_in_any_window(stamps, 1.0) <= 4
    assert max(stamps) >= 4.0


async def test_slots_on_the_real_clock_spend_the_budget() -> None:
    budget = RequestBudget(
        BudgetConfig(requests_per_hour=100, burst_per_second=1000), SystemClock()
    )
    for _ in range(5):
        async with budget.slot():
            pass
    assert budget.spent_total == 5
    assert budget.remaining == 95


def test_fractional_rate_keeps_its_average() -> None:
    window = RequestWindow(2.5, FakeClock())
    assert window.limit / window.period == pytest.approx(2.5)
    slow = RequestWindow(0.5, FakeClock())
    assert (slow.limit, slow.period) == (1, 2.0)


async def test_cancelled_waiter_gives_its_place_back() -> None:
    clock = FakeClock()
    budget = RequestBudget(
        BudgetConfig(requests_per_hour=1, burst_per_second=100, concurrency=1), clock
    )
    async with budget.slot():
        pass

    async def waiter() -> None:
        async with budget.slot():
            pass

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert budget.waiting == 0
    assert budget.in_flight == 0
    assert budget.spent_total == 1
    clock.advance(3600)
    async with budget.slot():
        pass
    assert budget.spent_total == 2
