"""Fixtures of the fault tests: a simulated Kandji tenant on loopback, driven by a fake
clock, with no rate limits unless a test asks for them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from monitor.clock import FakeClock
from monitor.simulator.kandji import KandjiSimulator, start_kandji

TOKEN = "fault-test-token-7c1e"

StartSim = Callable[..., Awaitable[tuple[str, KandjiSimulator]]]


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock that moves by itself when something sleeps on it."""
    return FakeClock(autojump=True)


@pytest.fixture
async def start_sim(clock: FakeClock) -> AsyncIterator[StartSim]:
    """Start simulated tenants on 127.0.0.1; returns ``(base_url, sim)``."""
    runners: list[web.AppRunner] = []

    async def start(**options: Any) -> tuple[str, KandjiSimulator]:
        options.setdefault("clock", clock)
        options.setdefault("token", TOKEN)
        options.setdefault("devices", 40)
        options.setdefault("per_second", None)
        options.setdefault("per_hour", None)
        runner, base_url, sim = await start_kandji("127.0.0.1", 0, **options)
        runners.append(runner)
        return base_url, sim

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session that sends the test token."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        yield session
