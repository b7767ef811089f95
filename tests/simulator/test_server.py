"""Starting and stopping the simulated tenant the way the command line does."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from monitor.clock import FakeClock
from monitor.simulator.kandji import KandjiSimulator, serve_kandji_forever, start_kandji
from tests.simulator.conftest import TOKEN


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def answers(url: str) -> int:
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
        http.get(url) as response,
    ):
        return response.status


class Started:
    """Receives ``on_started`` and lets a test wait for it."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.base_url = ""

    def __call__(self, base_url: str, sim: KandjiSimulator) -> None:
        self.base_url = base_url
        self.event.set()


async def test_serve_forever_runs_until_stop_is_set_and_then_releases_the_port() -> None:
    port = free_port()
    stop = asyncio.Event()
    started = Started()
    task = asyncio.create_task(
        serve_kandji_forever(
            "127.0.0.1",
            port,
            devices=20,
            token=TOKEN,
            clock=FakeClock(),
            stop=stop,
            on_started=started,
        )
    )
    await started.event.wait()
    assert started.base_url == f"http://127.0.0.1:{port}"
    url = f"{started.base_url}/api/v1/blueprints"
    assert await answers(url) == 200
    stop.set()
    await task
    with pytest.raises(aiohttp.ClientConnectionError):
        await answers(url)


async def test_cancelling_serve_forever_stops_the_server() -> None:
    port = free_port()
    started = Started()
    task = asyncio.create_task(
        serve_kandji_forever(
            "127.0.0.1", port, devices=20, token=TOKEN, clock=FakeClock(), on_started=started
        )
    )
    await started.event.wait()
    url = f"{started.base_url}/api/v1/blueprints"
    assert await answers(url) == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(aiohttp.ClientConnectionError):
        await answers(url)


async def test_start_reports_the_bound_port_and_cleanup_stops_the_evolve_task() -> None:
    clock = FakeClock()
    runner, base_url, sim = await start_kandji(
        devices=20, token=TOKEN, clock=clock, evolve_every=60
    )
    try:
        assert base_url.startswith("http://127.0.0.1:")
        assert not base_url.endswith(":0")
        assert await answers(f"{base_url}/api/v1/blueprints") == 200
        assert clock.sleepers == 1
    finally:
        await runner.cleanup()
    assert clock.sleepers == 0
    assert sim.requests.total == 1
