"""The request budget holds while retries storm.

The simulated tenant answers most requests 429 or 503, so every request is retried
several times. Counted by the simulator, the daemon never sends more than its hourly
budget: in the first simulated hour at most ``requests_per_hour`` requests arrive, by the
end of the second at most twice that, and every slot the budget granted reached the
simulator exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from monitor.app import App
from monitor.clock import FakeClock
from monitor.config import load_config
from monitor.simulator.kandji import start_kandji
from monitor.sources.budget import RequestBudget, SlidingWindow
from tests.faults.rig import SOURCE, TOKEN

BUDGET = 60

CONFIG = f"""\
sources:
  - name: {SOURCE}
    kind: kandji
    url: URL
    token: ${{T}}
    strategy: per_device
    retry: {{max_attempts: 8, backoff_base: 1s, backoff_max: 4s, max_retry_after: 30s}}
    budget: {{requests_per_hour: {BUDGET}, burst_per_second: 1000, concurrency: 4}}
receivers:
  - name: console
    console: true
route:
  receiver: console
store:
  path: state.db
web:
  enabled: false
"""


# Loop turns that let every runnable task reach its next wait.
SETTLE_TURNS = 50


async def drive(
    clock: FakeClock, budget: RequestBudget, sweep: asyncio.Task[object], until: float,
    step: float = 10.0,
) -> None:
    """Move the fake clock to ``until`` (monotonic seconds) in steps, each taken only
    once the sweep is parked on the clock: nothing in flight on the loopback HTTP, and
    the event loop has run every task that could run (counted in loop turns, not in
    wall time, so a loaded machine cannot make simulated time run ahead), or once the
    sweep is over."""
    while clock.monotonic() < until:
        if budget.in_flight:
            await asyncio.sleep(0.001)  # an answer is on its way over loopback
            continue
        for _ in range(SETTLE_TURNS):
            await asyncio.sleep(0)
        if budget.in_flight == 0 and (clock.sleepers or sweep.done()):
            clock.advance(min(step, until - clock.monotonic()))


async def test_retry_storm_stays_within_the_hourly_budget(tmp_path: Path) -> None:
    clock = FakeClock()
    runner, url, sim = await start_kandji(
        "127.0.0.1", 0, devices=40, seed=9, token=TOKEN, per_second=None, per_hour=None,
        clock=clock,
    )
    sim.add_fault(".", "429", probability=0.45, retry_after=2)
    sim.add_fault(".", "503", probability=0.35)
    try:
        path = tmp_path / "config.yaml"
        path.write_text(CONFIG.replace("URL", url))
        config = load_config(path, env={"T": TOKEN})
        async with App(config, clock=clock) as app:
            budget = app.budget(SOURCE)
            sweep = asyncio.create_task(app.sweep_source(SOURCE))
            try:
                await drive(clock, budget, sweep, until=59 * 60)
                first_hour = sim.requests.total
                assert first_hour == BUDGET, "the budget was spent, and not exceeded"
                assert not sweep.done()
                assert budget.waiting > 0, "the sweep waits for the next hour"
                assert budget.in_flight == 0
                assert budget.spent_total == first_hour, "every granted slot arrived once"

                await drive(clock, budget, sweep, until=119 * 60)
                assert sim.requests.total <= 2 * BUDGET
                assert sim.requests.total > first_hour, "the window slid: more came"
                # The storm really happened: most answers were refusals.
                refused = sim.requests.status_counts[429] + sim.requests.status_counts[503]
                assert refused > sim.requests.total / 3
            finally:
                sweep.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweep
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(("start", "limit", "period"), [(0.1, 1, 0.1), (1000.1, 50, 1.0)])
async def test_waiting_for_a_window_slot_ends_on_a_clock_that_jumps(
    start: float, limit: int, period: float
) -> None:
    # On a fake clock that jumps by exactly the time asked, a wait computed as
    # "oldest + period - now" used to fall a rounding error short, forever.
    clock = FakeClock(autojump=True)
    clock.advance(start)
    window = SlidingWindow(limit, period, clock)

    async def take(n: int) -> None:
        for _ in range(n):
            await window.acquire()

    await asyncio.wait_for(take(500), timeout=10)
    assert clock.monotonic() >= start + (500 // limit - 1) * period
