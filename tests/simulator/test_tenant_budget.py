"""The simulated tenant's hourly budget is shared: another integration (the rival) spends
from it, and the Kong headers every answer carries count what the whole tenant has left."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from monitor.cli import build_parser
from monitor.clock import FakeClock
from monitor.commands import simulate
from monitor.errors import ConfigError
from tests.simulator.conftest import StartSim

ROUTES = (
    "/api/v1/devices?limit=1",
    "/api/v1/prism/filevault?limit=1",
    "/api/v1/audit/events?limit=1&sort_by=id",
)


async def test_the_headers_count_the_rivals_spending(
    start_sim: StartSim, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    # The test clock starts on the hour; half an hour in, a rival at 3,600 an hour has
    # spent 1,800 of the tenant's 10,000.
    base, sim = await start_sim(per_hour=10_000, per_second=50, rival_per_hour=3600)
    assert clock.now().timestamp() % 3600 == 0
    clock.advance(1800)
    for n, route in enumerate(ROUTES, start=1):
        async with http.get(base + route) as response:
            assert response.status == 200
            headers = response.headers
        assert headers["X-Ratelimit-Limit-Hour"] == "10000"
        assert headers["X-Ratelimit-Remaining-Hour"] == str(10_000 - 1800 - n)
        assert headers["X-Ratelimit-Limit-Second"] == "50"
        assert headers["X-Ratelimit-Remaining-Second"] == str(50 - n)
        # RateLimit-* name the window closest to running out: the second here.
        assert headers["Ratelimit-Limit"] == "50"
        assert headers["Ratelimit-Remaining"] == str(50 - n)
    assert sim.limiter.rival_used(clock.now().timestamp()) == 1800


async def test_the_monitor_is_refused_once_the_rival_has_spent_the_hour(
    start_sim: StartSim, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    base, sim = await start_sim(per_hour=1000, per_second=None, rival_per_hour=3600)
    clock.advance(990)
    answered = 0
    for _ in range(15):
        async with http.get(f"{base}/api/v1/devices?limit=1") as response:
            if response.status == 200:
                answered += 1
                continue
            assert response.status == 429
            assert response.headers["X-Ratelimit-Remaining-Hour"] == "0"
            assert response.headers["Retry-After"] == str(3600 - 990)
    assert answered == 10  # what the rival left of the hour
    assert (sim.limiter.answered, sim.limiter.rejected) == (10, 5)
    # A new hour: the rival starts again from nothing, and so does the budget.
    clock.advance(3600 - 990)
    async with http.get(f"{base}/api/v1/devices?limit=1") as response:
        assert response.status == 200
        assert response.headers["X-Ratelimit-Remaining-Hour"] == "999"


async def test_without_a_rival_the_budget_is_the_monitors_alone(
    start_sim: StartSim, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    base, _ = await start_sim(per_hour=10_000, per_second=None)
    clock.advance(3000)
    async with http.get(f"{base}/api/v1/devices?limit=1") as response:
        assert response.headers["X-Ratelimit-Remaining-Hour"] == "9999"


async def test_simulate_takes_a_rival_rate_and_refuses_a_negative_one() -> None:
    args = build_parser().parse_args(["simulate", "kandji", "--rival-rate", "5000", "--port", "0"])
    assert args.rival_rate == 5000.0
    stop = asyncio.Event()
    stop.set()
    assert await simulate.run(args, stop) == 0
    args.rival_rate = -1.0
    with pytest.raises(ConfigError, match="rival-rate"):
        await simulate.run(args, stop)
