"""The per-second edge against a simulated Kong gateway (fixed one-second windows, counted
when a request arrives): requests in flight count, and the rate stays one under the
limit the answers' headers report, so a monitor alone on its tenant meets no 429."""

from __future__ import annotations

import asyncio

from monitor.clock import FakeClock
from monitor.config import BudgetConfig
from monitor.simulator.kandji import start_kandji
from monitor.sources.kandji.client import KandjiClient
from tests.sources.conftest import TOKEN, kandji_config


async def hammer(burst: float, requests: int) -> tuple[int, int]:
    """``requests`` device reads, eight at a time, against a gateway allowing 50 a
    second whose answers take 20-60 ms (so requests are still on their way when others
    start); (answered, rejected) as the gateway counted them."""
    clock = FakeClock(autojump=True)
    runner, url, sim = await start_kandji(
        devices=5, clock=clock, token=TOKEN, per_second=50, per_hour=None,
        latency_ms=20, jitter_ms=40,
    )
    config = kandji_config(
        url, budget=BudgetConfig(requests_per_hour=100_000, burst_per_second=burst,
                                 concurrency=8),
    )
    queue = iter(range(requests))
    try:
        async with KandjiClient(config, clock=clock) as client:

            async def worker() -> None:
                for n in queue:
                    await client.get_device(sim.fleet.device_id(n % 5))

            await asyncio.gather(*(worker() for _ in range(8)))
    finally:
        await runner.cleanup()
    return sim.limiter.answered, sim.limiter.rejected


async def test_paced_at_the_gateways_rate_no_request_arriving_late_meets_a_429() -> None:
    answered, rejected = await hammer(50, 600)
    assert rejected == 0
    assert answered == 600


async def test_a_configured_rate_above_the_gateways_yields_to_its_headers() -> None:
    # Configured for 1,000 a second: the first answers say 50, and the rest of the
    # requests keep to 49 a second.
    answered, rejected = await hammer(1000, 600)
    assert rejected == 0
    assert answered == 600
