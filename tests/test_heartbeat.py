"""The dead-man's switch pings a real HTTP server on loopback, never holding up a sweep."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from aiohttp import web
from pydantic import SecretStr, ValidationError

from monitor.app import App
from monitor.clock import FakeClock
from monitor.config import HeartbeatConfig, load_config
from monitor.heartbeat import Heartbeat
from tests.e2e.alerting_support import (  # noqa: F401 - fresh_logging is a fixture
    fresh_logging,
    quiet_spec,
    tenant,
    write_config,
)

CHECK = "5b0c1f3e-8d0a-4c8e-9a57-0d6f2f0b7e11"


@dataclass
class PingService:
    """A healthchecks.io look-alike: records each ping's path and body."""

    base_url: str = ""
    pings: list[tuple[str, str]] = field(default_factory=list)
    status: int = 200
    hold: asyncio.Event | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"{self.base_url}/ping/{CHECK}"

    def paths(self) -> list[str]:
        return [p.removeprefix(f"/ping/{CHECK}") or "/" for p, _ in self.pings]

    async def _ping(self, request: web.Request) -> web.Response:
        self.pings.append((request.path, await request.text()))
        self.arrived.set()
        if self.hold is not None:
            await self.hold.wait()
        return web.Response(status=self.status, text="OK")


@asynccontextmanager
async def ping_service() -> AsyncIterator[PingService]:
    service = PingService()
    app = web.Application()
    app.router.add_post("/ping/{check}", service._ping)
    app.router.add_post("/ping/{check}/fail", service._ping)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    service.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield service
    finally:
        if service.hold is not None:
            service.hold.set()
        await runner.cleanup()


def heartbeat(url: str, timeout: str = "5s") -> Heartbeat:
    return Heartbeat(HeartbeatConfig.model_validate({"url": url, "timeout": timeout}))


async def test_a_healthy_sweep_pings_the_url_and_a_failed_one_pings_fail() -> None:
    async with ping_service() as service:
        beat = heartbeat(service.url)
        beat.report(True, "sweep of acme ok: 8 devices, 0 alerts firing")
        await beat.settle()
        beat.report(False, "sweep of acme failed; failing: acme")
        await beat.settle()
        await beat.close()
    assert service.paths() == ["/", "/fail"]
    assert service.pings[0][1] == "sweep of acme ok: 8 devices, 0 alerts firing"
    assert (beat.sent, beat.failed) == (2, 0)


async def test_a_given_fail_url_is_used_instead_of_the_suffix() -> None:
    async with ping_service() as service:
        beat = Heartbeat(HeartbeatConfig.model_validate(
            {"url": service.url, "fail_url": service.url + "/fail"}
        ))
        beat.report(False, "down")
        await beat.settle()
        await beat.close()
    assert service.paths() == ["/fail"]


async def test_a_stalled_service_neither_blocks_reports_nor_outlives_the_timeout() -> None:
    async with ping_service() as service:
        service.hold = asyncio.Event()
        beat = heartbeat(service.url, timeout="300ms")
        beat.report(True, "first")
        await service.arrived.wait()
        # The first ping hangs; the next verdicts only replace each other meanwhile.
        beat.report(False, "second")
        beat.report(True, "third")
        await beat.settle()
        await beat.close()
    # The stalled ping timed out; of the two queued while it hung, only the newest went.
    assert [body for _, body in service.pings] == ["first", "third"]
    assert beat.failed == 2


async def test_an_error_answer_is_counted_and_logged_once_without_the_url() -> None:
    async with ping_service() as service:
        service.status = 500
        beat = heartbeat(service.url)
        with structlog.testing.capture_logs() as logs:
            for _ in range(3):
                beat.report(True, "ok")
                await beat.settle()
            service.status = 200
            beat.report(True, "ok")
            await beat.settle()
        await beat.close()
    assert (beat.sent, beat.failed) == (1, 3)
    events = [e["event"] for e in logs]
    assert events == ["heartbeat.failing", "heartbeat.recovered"]
    assert CHECK not in repr(logs)
    assert logs[0]["error"] == "HTTP 500"


async def test_an_unreachable_service_is_a_logged_failure_not_an_exception() -> None:
    beat = heartbeat(f"http://127.0.0.1:9/ping/{CHECK}", timeout="2s")
    with structlog.testing.capture_logs() as logs:
        beat.report(True, "ok")
        await beat.settle()
    await beat.close()
    assert beat.failed == 1
    assert CHECK not in repr(logs)


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ({"url": "ftp://x"}, "must start with http:// or https://"),
        ({"url": "http://x", "timeout": "5m"}, "at most 60s"),
    ],
)
def test_the_heartbeat_config_refuses_other_schemes_and_long_timeouts(
    bad: dict[str, str], problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        HeartbeatConfig.model_validate(bad)


def test_the_heartbeat_urls_are_secret() -> None:
    cfg = HeartbeatConfig.model_validate({"url": f"https://hc-ping.com/{CHECK}"})
    assert CHECK not in repr(cfg)
    assert cfg.failure_url() == f"https://hc-ping.com/{CHECK}/fail"


@pytest.mark.usefixtures("fresh_logging")
async def test_the_daemon_pings_after_each_sweep_and_fails_while_the_source_fails(
    tmp_path: Path,
) -> None:
    clock = FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    async with tenant(quiet_spec(), clock=clock) as (url, sim), ping_service() as service:
        cfg = write_config(
            tmp_path, kandji_url=url, receivers="receivers: [{name: console, console: true}]",
            route="route: {receiver: console}",
            extra=f"heartbeat: {{url: '{service.url}', timeout: 5s}}\n",
        )
        async with App(load_config(cfg), clock=clock, web_enabled=False) as app:
            assert app.heartbeat is not None
            assert (await app.sweep_source("acme")).ok
            await app.heartbeat.settle()
            token, sim.token = sim.token, SecretStr("rotated-elsewhere")  # answers 401
            assert not (await app.sweep_source("acme")).ok
            await app.heartbeat.settle()
            sim.token = token
            assert (await app.sweep_source("acme")).ok
            await app.heartbeat.settle()
    assert service.paths() == ["/", "/fail", "/"]
    assert service.pings[0][1].startswith("sweep of acme ok: 8 devices")
    assert service.pings[1][1] == "sweep of acme failed; failing: acme"
