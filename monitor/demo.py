"""The demo: every source's simulated fleet, the daemon and console alerts.

Each registered source that offers a demo (:meth:`monitor.sources.base.Source.demo`)
starts its simulator on a free loopback port with a few planted problems, and
contributes its entry to the ``sources`` of the embedded config below (an ordinary
config, the same shape as ``config.example.yaml``). Timings are short so that a first
alert and a resolved notice both show within half a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from monitor.config import Config, parse_yaml, resolve_paths
from monitor.sources import registry
from monitor.sources.base import DemoTenant

log = structlog.get_logger(__name__)

DEMO_CONFIG = """
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
    sources: list[dict[str, Any]], token: str, state_dir: Path, web_port: int
) -> Config:
    """The embedded default config with ``sources`` (each given ``token``)."""
    env = {"DEMO_STATE_DIR": str(state_dir), "DEMO_WEB_PORT": str(web_port)}
    data, _ = parse_yaml(DEMO_CONFIG, "<demo>", env)
    data["sources"] = [{**s, "token": token} for s in sources]
    return resolve_paths(Config.model_validate(data), state_dir)


@dataclass
class DemoEnvironment:
    """The demo's simulators, running on loopback, and the config pointed at them.

    ``simulators`` maps each source kind to its simulator object (to plant or repair
    problems by hand).
    """

    config: Config
    simulators: Mapping[str, Any]


async def _stop_quietly(tenant: DemoTenant) -> None:
    # a simulator that fails to stop must not hide why the demo ended
    with contextlib.suppress(Exception):
        await tenant.served.stop()


@asynccontextmanager
async def demo_environment(
    *,
    state_dir: Path,
    devices: int,
    seed: int,
    web_port: int,
    repair_after: float = 12.0,
) -> AsyncIterator[DemoEnvironment]:
    """Start every source's demo tenant on free loopback ports; stop them on exit.

    Each is seeded with ``seed``, sized from ``devices``, and shares one random token;
    planted failures are repaired after ``repair_after`` seconds where the simulator
    does that. The yielded config is :func:`demo_config` pointed at them, its status
    page on ``web_port``.
    """
    token = secrets.token_urlsafe(24)
    async with contextlib.AsyncExitStack() as stack:
        tenants: dict[str, DemoTenant] = {}
        for source in registry.sources():
            starting = source.demo(
                devices=devices, seed=seed, token=token, repair_after=repair_after
            )
            if starting is None:
                continue
            tenant = await starting
            stack.push_async_callback(_stop_quietly, tenant)
            tenants[source.kind] = tenant
        config = demo_config([t.source for t in tenants.values()], token, state_dir, web_port)
        yield DemoEnvironment(config, {k: t.served.sim for k, t in tenants.items()})


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
