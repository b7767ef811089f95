"""Starting and stopping a simulated Applivery organization on a real socket."""

from __future__ import annotations

import asyncio
from typing import Any, Final, Unpack

import structlog
from aiohttp import web
from pydantic import SecretStr

from monitor.clock import Clock, SystemClock
from monitor.simulator.applivery.app import API_PREFIX, AppliverySimulator, make_applivery_app
from monitor.simulator.applivery.fleet import DEFAULT_ORGANIZATION, AppliveryFleet, FleetRates
from monitor.simulator.http import HttpKnobs
from monitor.simulator.server import serve_app, serve_until

log = structlog.get_logger(__name__)

# A public, well-known value: the simulator guards nothing real.
DEFAULT_TOKEN: Final = "applivery-simulator-token"  # noqa: S105


async def start_applivery(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    devices: int = 50,
    seed: int = 1,
    token: str | SecretStr = DEFAULT_TOKEN,
    organization: str = DEFAULT_ORGANIZATION,
    evolve_every: float | None = None,
    max_limit: int = 1000,
    refresh_delay: float = 120.0,
    rates: FleetRates | None = None,
    clock: Clock | None = None,
    **knobs: Unpack[HttpKnobs],
) -> tuple[web.AppRunner, str, AppliverySimulator]:
    """Serve a simulated Applivery organization on ``host:port`` (port 0 picks one).

    Returns ``(runner, base_url, sim)``; ``base_url`` ends in ``/v1``, ready for an
    ``applivery`` source's ``url``; ``await runner.cleanup()`` stops it. The HTTP knobs
    (:class:`~monitor.simulator.http.HttpKnobs`) default to no burst limit and 10,000
    requests an hour.
    """
    clock = clock or SystemClock()
    fleet = AppliveryFleet(
        devices,
        seed=seed,
        clock=clock,
        organization=organization,
        rates=rates,
        refresh_delay=refresh_delay,
    )
    sim = AppliverySimulator(
        fleet,
        token=token,
        seed=seed,
        evolve_every=evolve_every,
        max_limit=max_limit,
        **knobs,
    )
    runner, root_url = await serve_app(make_applivery_app(sim), host, port)
    base_url = root_url + API_PREFIX
    sim.announce(base_url, organization=organization, devices=fleet.device_count)
    return runner, base_url, sim


async def serve_applivery_forever(
    host: str = "127.0.0.1",
    port: int = 8766,
    *,
    stop: asyncio.Event | None = None,
    **options: Any,
) -> None:
    """Serve a simulated organization until cancelled or until ``stop`` is set.

    ``options`` are those of :func:`start_applivery`. The caller owns signal handling.
    """
    runner, base_url, sim = await start_applivery(host, port, **options)
    try:
        await serve_until(runner, stop)
    finally:
        log.info("simulator.applivery.stopped", url=base_url, requests=sim.requests.total)
