"""Serving a simulated API on a real socket.

:func:`serve_app` binds any simulated API's app and returns at once (tests, benchmarks,
the demo); :func:`serve_until` keeps a started server up until cancelled or until
``stop`` is set, then shuts it down cleanly (the ``simulate`` command). Each vendor's
package builds its own ``start_*`` and ``serve_*_forever`` on these.
"""

from __future__ import annotations

import asyncio

from aiohttp import web


async def serve_app(
    app: web.Application,
    host: str,
    port: int,
    *,
    handler_cancellation: bool = False,
    shutdown_timeout: float = 60.0,
) -> tuple[web.AppRunner, str]:
    """Serve ``app`` on ``host:port`` (port 0 picks a free one), without access logs.

    Returns ``(runner, base_url)``, ``base_url`` being ``http://host:port`` as bound (an
    IPv6 host in brackets); ``await runner.cleanup()`` stops it. A failed bind cleans up
    before it raises.
    """
    runner = web.AppRunner(
        app,
        access_log=None,
        handler_cancellation=handler_cancellation,
        shutdown_timeout=shutdown_timeout,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_host, bound_port = _bound_address(runner, host, port)
    return runner, f"http://{bound_host}:{bound_port}"


def _bound_address(runner: web.AppRunner, host: str, port: int) -> tuple[str, int]:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            bound = str(address[0])
            return (f"[{bound}]" if ":" in bound else bound), int(address[1])
    return host, port


async def serve_until(runner: web.AppRunner, stop: asyncio.Event | None) -> None:
    """Wait until ``stop`` is set (forever without one), then clean ``runner`` up; the
    clean-up also runs when the wait is cancelled."""
    try:
        if stop is None:
            await asyncio.Event().wait()
        else:
            await stop.wait()
    finally:
        await runner.cleanup()
