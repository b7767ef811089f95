"""Shutdown of a real ``compliance-monitor run`` process.

SIGTERM in the middle of a sweep (the simulated tenant answers slowly) and in the middle
of a delivery (the webhook holds the request) ends the process within the grace period,
with status 0, and loses nothing: after a restart the alerts are announced, and the
message that was in flight is delivered. A second signal ends the process at once, with
status 130.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from monitor.simulator.kandji import KandjiSimulator, start_kandji
from monitor.store import OutboxState, open_store

pytestmark = pytest.mark.slow

TOKEN = "shutdown-test-token-41aa"
GRACE = 6.0
SLACK = 4.0  # interpreter start and exit, on a loaded machine

CONFIG = """\
sources:
  - name: acme
    kind: kandji
    url: {url}
    token: ${{KT}}
    strategy: per_device
    interval: 2s
    budget: {{requests_per_hour: 100000, burst_per_second: 1000, concurrency: 2}}
receivers:
  - name: hook
    urls: ["json://127.0.0.1:{hook_port}/hook"]
route:
  receiver: hook
  group_by: [rule_id, source]
  group_wait: 0s
  group_interval: 1s
notify:
  outbox: {{poll_interval: 100ms, backoff_base: 200ms, backoff_max: 1s, send_timeout: 60s}}
store:
  path: state.db
web:
  enabled: false
log:
  format: json
shutdown_grace: {grace}s
"""


@dataclass
class Hook:
    """A webhook that records each POST on arrival and answers when ``open`` is set."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    open: asyncio.Event = field(default_factory=asyncio.Event)

    def titles(self) -> list[str]:
        return [str(b.get("title", "")) for b in self.bodies]


@asynccontextmanager
async def hook_server(hook: Hook) -> AsyncIterator[int]:
    async def receive(request: web.Request) -> web.Response:
        hook.bodies.append(await request.json())
        await hook.open.wait()
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        hook.open.set()
        await runner.cleanup()


@dataclass
class Daemon:
    """A ``compliance-monitor run`` process and its log."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def events(self) -> list[str]:
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                out.append(str(json.loads(line).get("event")))
        return out

    async def stop(self, sig: int = signal.SIGTERM) -> tuple[int, float]:
        """Send ``sig``; return (exit status, seconds until the process ended)."""
        started = time.monotonic()
        self.process.send_signal(sig)
        code = await asyncio.to_thread(self.process.wait, GRACE + 30)
        return code, time.monotonic() - started


REPO = Path(__file__).resolve().parents[2]


def spawn(config: Path, log: Any) -> subprocess.Popen[bytes]:
    """``compliance-monitor run`` as systemd would start it, logging to ``log``."""
    return subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "run", "-c", str(config)],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KT": TOKEN},
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


@asynccontextmanager
async def daemon(tmp_path: Path, url: str, hook_port: int, name: str) -> AsyncIterator[Daemon]:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(url=url, hook_port=hook_port, grace=GRACE))
    log_path = tmp_path / f"{name}.log"
    with log_path.open("wb") as log:
        process = spawn(config, log)
        try:
            yield Daemon(process, log_path)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)


async def until(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def plant_errors(sim: KandjiSimulator, devices: int = 4) -> set[str]:
    """One more item in ERROR on a few devices that check in; their serial numbers."""
    fleet = sim.fleet
    serials: set[str] = set()
    for i in fleet.device_indices():
        seen = fleet.device(i).last_check_in
        if len(serials) == devices or seen is None or (fleet.now() - seen).days >= 7:
            continue
        passing = [s for s in fleet.device_items(i) if s.status == "PASS"]
        if passing:
            fleet.set_item_status(fleet.device_id(i), passing[0].item.id, "ERROR")
            serials.add(fleet.device(i).serial_number)
    return serials


def status_requests(sim: KandjiSimulator) -> int:
    return sim.requests.count("/api/v1/devices/{device_id}/status")


async def outbox(path: Path) -> dict[str, int]:
    async with open_store(path) as store:
        return {str(k): v for k, v in (await store.outbox_counts()).items()}


async def test_sigterm_mid_sweep_exits_within_grace_and_loses_nothing(tmp_path: Path) -> None:
    runner, url, sim = await start_kandji(
        "127.0.0.1", 0, devices=16, seed=12, token=TOKEN, per_second=None, per_hour=None,
        latency_ms=300,
    )
    serials = plant_errors(sim)
    hook = Hook()
    hook.open.set()
    try:
        async with hook_server(hook) as port:
            async with daemon(tmp_path, url, port, "first") as first:
                await until("the first sweep to be under way", lambda: status_requests(sim) >= 3)
                assert "sweep" not in first.events(), "still mid-sweep"
                code, took = await first.stop()
            assert code == 0
            assert took < GRACE + SLACK, f"took {took:.1f}s"
            assert "stopped" in first.events()

            # Whether the interrupted sweep was finished and announced or not, after a
            # restart every planted error has been announced.
            sim.latency_ms = 0
            async with daemon(tmp_path, url, port, "second") as second:
                await until("the restarted daemon", lambda: "started" in second.events())
                await until("every planted error announced", lambda: all(
                    serial in json.dumps(hook.bodies) for serial in serials))
                code, _ = await second.stop()
            assert code == 0
    finally:
        await runner.cleanup()


async def test_sigterm_mid_delivery_exits_within_grace_and_delivers_after_restart(
    tmp_path: Path,
) -> None:
    runner, url, sim = await start_kandji(
        "127.0.0.1", 0, devices=16, seed=13, token=TOKEN, per_second=None, per_hour=None,
    )
    plant_errors(sim)
    hook = Hook()  # holds every request until opened
    try:
        async with hook_server(hook) as port:
            async with daemon(tmp_path, url, port, "first") as first:
                await until("a delivery in flight", lambda: bool(hook.bodies))
                held = hook.titles()[0]
                code, took = await first.stop()
            assert code == 0
            assert took < GRACE + SLACK, f"took {took:.1f}s"
            assert "stopped" in first.events()
            pending = await outbox(tmp_path / "state.db")
            assert pending.get(OutboxState.PENDING.value, 0) >= 1, pending

            hook.open.set()
            async with daemon(tmp_path, url, port, "second") as second:
                await until("the restarted daemon", lambda: "started" in second.events())
                await until("the held message to arrive again",
                            lambda: hook.titles().count(held) >= 2)
                await until("the outbox to empty", lambda: "notify.delivered" in second.events())
                code, _ = await second.stop()
            assert code == 0
        counts = await outbox(tmp_path / "state.db")
        assert counts.get(OutboxState.PENDING.value, 0) == 0, counts
        assert counts.get(OutboxState.DELIVERED.value, 0) >= 1, counts
    finally:
        await runner.cleanup()


async def test_a_second_signal_exits_at_once_with_130(tmp_path: Path) -> None:
    runner, url, sim = await start_kandji(
        "127.0.0.1", 0, devices=40, seed=14, token=TOKEN, per_second=None, per_hour=None,
        latency_ms=2000,
    )
    hook = Hook()
    hook.open.set()
    try:
        async with hook_server(hook) as port, daemon(tmp_path, url, port, "run") as run:
            # The device list has come back; the (slow) status calls are in flight.
            await until("a sweep under way", lambda: sim.requests.total >= 1)
            run.process.send_signal(signal.SIGTERM)
            await until("the first signal to be taken", lambda: "stopping" in run.events())
            code, took = await run.stop(signal.SIGTERM)
        assert code == 130
        assert took < SLACK, f"took {took:.1f}s"
    finally:
        await runner.cleanup()
