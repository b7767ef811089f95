"""The per-second limiter production runs (asyncio-throttle), on a real event loop.

No timing is asserted: each test fills the limiter, checks that one more caller is
held while the loop runs everything else it can, then lets the period roll over.
"""

from __future__ import annotations

import asyncio

from monitor.clock import FakeClock, SystemClock
from monitor.config import BudgetConfig
from monitor.sources.budget import RequestBudget, SlidingWindow, ThrottlerGate, per_second_gate

WAIT = 10.0  # seconds a test waits before it fails (a loaded machine is slow)


async def run_pending_work() -> None:
    """Let every runnable task of the loop run (no time passes for the limiter)."""
    for _ in range(50):
        await asyncio.sleep(0)


def test_every_clock_but_a_simulated_one_gets_asyncio_throttle() -> None:
    class WallClock(SystemClock):
        """A production clock that is not the stock SystemClock."""

    assert isinstance(per_second_gate(50, SystemClock()), ThrottlerGate)
    assert isinstance(per_second_gate(50, WallClock()), ThrottlerGate)
    assert isinstance(per_second_gate(50, FakeClock()), SlidingWindow)


async def test_the_throttler_holds_the_call_beyond_the_rate_until_the_period_rolls() -> None:
    gate = ThrottlerGate(3)
    for _ in range(3):
        await asyncio.wait_for(gate.acquire(), WAIT)
    fourth = asyncio.create_task(gate.acquire())
    await run_pending_work()
    assert not fourth.done(), "a fourth call within the second must wait"
    await asyncio.wait_for(fourth, WAIT)


async def test_a_fractional_rate_becomes_whole_calls_over_a_longer_period() -> None:
    gate = ThrottlerGate(2.5)
    await asyncio.wait_for(gate.acquire(), WAIT)
    await asyncio.wait_for(gate.acquire(), WAIT)
    third = asyncio.create_task(gate.acquire())
    await run_pending_work()
    assert not third.done(), "2.5/s admits two calls per 0.8 s"
    await asyncio.wait_for(third, WAIT)


async def test_a_budget_on_the_system_clock_spends_through_the_throttler() -> None:
    budget = RequestBudget(
        BudgetConfig(requests_per_hour=100, burst_per_second=2, concurrency=10), SystemClock()
    )
    entered: list[int] = []

    async def one(n: int) -> None:
        async with budget.slot():
            entered.append(n)

    tasks = [asyncio.create_task(one(n)) for n in range(3)]
    await run_pending_work()
    assert len(entered) == 2, "the third request waits for its turn in the next second"
    assert budget.waiting == 1
    await asyncio.wait_for(asyncio.gather(*tasks), WAIT)
    assert sorted(entered) == [0, 1, 2]
    assert budget.remaining == 97
