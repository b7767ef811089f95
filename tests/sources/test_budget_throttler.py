"""The per-second window production runs, on a real event loop and the system clock.

No timing is asserted: each test fills the window, checks that one more caller is
held while the loop runs everything else it can, then lets the period roll over.
"""

from __future__ import annotations

import asyncio

from monitor.clock import SystemClock
from monitor.config import BudgetConfig
from monitor.sources.budget import RequestBudget
from monitor.sources.windows import RequestWindow

WAIT = 10.0  # seconds a test waits before it fails (a loaded machine is slow)


async def run_pending_work() -> None:
    """Let every runnable task of the loop run (no time passes for the window)."""
    for _ in range(50):
        await asyncio.sleep(0)


async def test_the_window_holds_the_call_beyond_the_rate_until_the_period_rolls() -> None:
    gate = RequestWindow(3, SystemClock())
    for _ in range(3):
        await asyncio.wait_for(gate.acquire(), WAIT)
        gate.release()
    fourth = asyncio.create_task(gate.acquire())
    await run_pending_work()
    assert not fourth.done(), "a fourth call within the second must wait"
    await asyncio.wait_for(fourth, WAIT)


async def test_a_request_in_flight_holds_its_place_until_it_completes() -> None:
    gate = RequestWindow(2, SystemClock())
    await asyncio.wait_for(gate.acquire(), WAIT)
    await asyncio.wait_for(gate.acquire(), WAIT)
    third = asyncio.create_task(gate.acquire())
    await run_pending_work()
    assert not third.done(), "two requests in flight fill a window of two"
    gate.release()  # completes now: counts for one more second, then frees a place
    await run_pending_work()
    assert not third.done(), "a completed request still counts for a second"
    await asyncio.wait_for(third, WAIT)


async def test_a_budget_on_the_system_clock_spends_through_the_window() -> None:
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
