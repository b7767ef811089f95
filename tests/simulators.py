"""Simulated tenants on loopback for tests, started on demand and stopped at the end.

:func:`simulators` wraps a ``start_*`` function of :mod:`monitor.simulator` (which
returns ``(runner, base_url, sim)``) into ``start(**options) -> (base_url, sim)`` with a
test module's defaults; every simulator it started is stopped when the block ends.
:func:`token_session` is a client session that sends a bearer token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

S = TypeVar("S")


@asynccontextmanager
async def simulators(
    start_server: Callable[..., Awaitable[tuple[web.AppRunner, str, S]]], **defaults: Any
) -> AsyncIterator[Callable[..., Awaitable[tuple[str, S]]]]:
    """A starter of simulators on 127.0.0.1 (port 0); ``defaults`` fill unset options.

    The fake clock never moves by itself, so tests usually pass ``per_second=None`` and
    ``per_hour=None``: one fake second would otherwise cap a test's requests.
    """
    runners: list[web.AppRunner] = []

    async def start(**options: Any) -> tuple[str, S]:
        runner, base_url, sim = await start_server(**{**defaults, **options})
        runners.append(runner)
        return base_url, sim

    try:
        yield start
    finally:
        for runner in runners:
            await runner.cleanup()


@asynccontextmanager
async def token_session(token: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A client session that sends ``Authorization: Bearer <token>``."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        yield session
