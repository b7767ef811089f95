"""Starting and stopping a simulated Kandji tenant on a real socket.

:func:`start_kandji` is for tests, benchmarks and the demo: it binds, starts and returns
at once. :func:`serve_kandji_forever` is for the command line: it serves until cancelled
or until ``stop`` is set, then shuts down cleanly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Unpack

import structlog
from aiohttp import web
from pydantic import SecretStr

from monitor.clock import Clock, SystemClock
from monitor.simulator.http import HttpKnobs
from monitor.simulator.kandji.app import make_kandji_app
from monitor.simulator.kandji.fleet import Fleet
from monitor.simulator.kandji.model import FleetSpec
from monitor.simulator.kandji.simulator import KandjiSimulator
from monitor.simulator.server import serve_app, serve_until

log = structlog.get_logger(__name__)

# A public, well-known value: the simulator guards nothing real.
DEFAULT_TOKEN = "simulator-token"  # noqa: S105


class KandjiOptions(HttpKnobs, total=False):
    """What :func:`start_kandji` takes besides where to listen and ``evolve_every``."""

    devices: int
    seed: int
    token: str | SecretStr
    demo: bool
    demo_repair_after: float
    clock: Clock | None
    spec: FleetSpec | None


async def start_kandji(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    devices: int = 200,
    seed: int = 1,
    token: str | SecretStr = DEFAULT_TOKEN,
    evolve_every: float | None = None,
    demo: bool = False,
    demo_repair_after: float = 90.0,
    clock: Clock | None = None,
    spec: FleetSpec | None = None,
    **knobs: Unpack[HttpKnobs],
) -> tuple[web.AppRunner, str, KandjiSimulator]:
    """Serve a simulated Kandji tenant on ``host:port`` (port 0 picks a free one).

    Returns ``(runner, base_url, sim)``; ``await runner.cleanup()`` stops it. ``spec``
    overrides ``devices`` and ``seed`` when given. The HTTP knobs
    (:class:`~monitor.simulator.http.HttpKnobs`) default to Kandji's limits, 50 requests
    a second and 10,000 an hour; ``per_hour=None`` disables the hourly budget,
    ``per_second=None`` the burst limit; ``rival_per_hour`` is what the tenant's other
    integrations spend of the hourly budget.
    """
    clock = clock or SystemClock()
    fleet_spec = spec or FleetSpec(devices=devices, seed=seed)
    fleet = Fleet(fleet_spec, clock=clock)
    sim = KandjiSimulator(
        fleet,
        token=token,
        seed=fleet_spec.seed,
        evolve_every=evolve_every,
        demo=demo,
        demo_repair_after=demo_repair_after,
        **knobs,
    )
    # A client that gives up (a timeout fault) cancels its handler, and a shutdown does
    # not wait long for held requests: the simulator owes nobody a finished answer.
    runner, base_url = await serve_app(
        make_kandji_app(sim), host, port, handler_cancellation=True, shutdown_timeout=2.0
    )
    sim.announce(base_url, devices=fleet.device_count, demo=demo)
    return runner, base_url, sim


async def serve_kandji_forever(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    evolve_every: float | None = 30.0,
    stop: asyncio.Event | None = None,
    on_started: Callable[[str, KandjiSimulator], None] | None = None,
    **options: Unpack[KandjiOptions],
) -> None:
    """Serve a simulated tenant until cancelled or until ``stop`` is set.

    Meant for ``compliance-monitor simulate kandji``: the caller owns signal handling
    and sets ``stop`` (or cancels this coroutine); the server always shuts down cleanly.
    ``on_started`` is called with the base URL and the simulator once it listens;
    ``options`` are those of :func:`start_kandji` (the fleet evolves every 30 seconds
    unless ``evolve_every`` says otherwise).
    """
    runner, base_url, sim = await start_kandji(host, port, evolve_every=evolve_every, **options)
    try:
        if on_started is not None:
            on_started(base_url, sim)
        await serve_until(runner, stop)
    finally:
        log.info("simulator.kandji.stopped", url=base_url, requests=sim.requests.total)
