"""The demo: simulated Kandji and Applivery fleets, the daemon and console alerts.

The embedded default config below is an ordinary config file (the same shape as
``config.example.yaml``) whose source points at the simulator this module starts on a
free loopback port. Timings are short so that a first alert and a resolved notice both
show within half a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from monitor.config import Config, parse_yaml, resolve_paths

if TYPE_CHECKING:
    from aiohttp import web

    from monitor.simulator.applivery import AppliverySimulator
    from monitor.simulator.kandji import KandjiSimulator

log = structlog.get_logger(__name__)

DEMO_CONFIG = """
sources:
  - name: demo-kandji
    kind: kandji
    url: ${DEMO_KANDJI_URL}
    token: ${DEMO_KANDJI_TOKEN}
    interval: 4s
    budget: {requests_per_hour: 5000, burst_per_second: 40, concurrency: 8}
    console_url: https://demo.kandji.io
  - name: demo-applivery
    kind: applivery
    url: ${DEMO_APPLIVERY_URL}
    organization: demo-org
    token: ${DEMO_APPLIVERY_TOKEN}
    interval: 4s
    budget: {requests_per_hour: 5000, burst_per_second: 20, concurrency: 4}
receivers:
  - name: console
    console: true
route:
  receiver: console
  group_by: [rule_id, source]
  group_wait: 1s
  group_interval: 4s
  repeat_interval: 1h
store:
  path: ${DEMO_STATE_DIR}/monitor.db
web:
  port: ${DEMO_WEB_PORT}
shutdown_grace: 5s
"""


def demo_config(
    kandji_url: str, applivery_url: str, token: str, state_dir: Path, web_port: int
) -> Config:
    """The embedded default config, pointed at the simulators at the given URLs."""
    env = {
        "DEMO_KANDJI_URL": kandji_url,
        "DEMO_KANDJI_TOKEN": token,
        "DEMO_APPLIVERY_URL": applivery_url,
        "DEMO_APPLIVERY_TOKEN": token,
        "DEMO_STATE_DIR": str(state_dir),
        "DEMO_WEB_PORT": str(web_port),
    }
    data, _ = parse_yaml(DEMO_CONFIG, "<demo>", env)
    return resolve_paths(Config.model_validate(data), state_dir)


@dataclass
class DemoEnvironment:
    """The demo's simulators, running on loopback, and the config pointed at them."""

    config: Config
    kandji: KandjiSimulator
    applivery: AppliverySimulator


async def _stop_quietly(runner: web.AppRunner) -> None:
    # a simulator that fails to stop must not hide why the demo ended
    with contextlib.suppress(Exception):
        await runner.cleanup()


@asynccontextmanager
async def demo_environment(
    *,
    state_dir: Path,
    devices: int,
    seed: int,
    web_port: int,
    repair_after: float = 12.0,
) -> AsyncIterator[DemoEnvironment]:
    """Start the demo's simulators on free loopback ports; stop them on exit.

    A Kandji tenant of ``devices`` Macs with planted failures (repaired after
    ``repair_after`` seconds) and an Applivery organization of a third as many Windows
    devices, both seeded with ``seed`` and sharing one random token; the yielded config is
    :func:`demo_config` pointed at them, its status page on ``web_port``.
    """
    from monitor.simulator.applivery import start_applivery
    from monitor.simulator.kandji import start_kandji

    token = secrets.token_urlsafe(24)
    async with contextlib.AsyncExitStack() as stack:
        runner, base_url, kandji = await start_kandji(
            "127.0.0.1",
            0,
            devices=devices,
            seed=seed,
            token=token,
            demo=True,
            demo_repair_after=repair_after,
            evolve_every=None,
        )
        stack.push_async_callback(_stop_quietly, runner)
        win_runner, win_url, applivery = await start_applivery(
            "127.0.0.1",
            0,
            devices=max(4, devices // 3),
            seed=seed,
            token=token,
            organization="demo-org",
        )
        stack.push_async_callback(_stop_quietly, win_runner)
        # Two Windows PCs out of compliance, so the demo shows both systems at once.
        reporting = [
            d
            for d in applivery.fleet.devices
            if d.state == "ACTIVE" and not d.silent and d.compliant is not False
        ]
        for d in reporting[:2]:
            applivery.fleet.set_compliance(d.id, False)
        config = demo_config(base_url, win_url, token, state_dir, web_port)
        yield DemoEnvironment(config, kandji, applivery)


async def run_demo(
    *,
    state_dir: Path,
    devices: int,
    seed: int,
    web_port: int,
    duration: float | None,
    stop: asyncio.Event,
) -> None:
    """Start the simulator and the daemon; run until ``stop`` or ``duration`` seconds."""
    from monitor.app import App

    async with (
        demo_environment(
            state_dir=state_dir, devices=devices, seed=seed, web_port=web_port
        ) as demo,
        App(demo.config) as app,
    ):
        task = asyncio.create_task(app.run())
        waiter = asyncio.create_task(stop.wait())
        timeout = duration if duration is not None else None
        await asyncio.wait({task, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        app.stop()
        await task
        waiter.cancel()
