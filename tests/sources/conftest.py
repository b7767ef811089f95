"""Shared fixtures: a real aiohttp server on 127.0.0.1, a clock that records its sleeps."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from monitor.clock import FakeClock
from monitor.config import BudgetConfig, RetryConfig
from monitor.sources.kandji.config import KandjiSourceConfig
from tests.fixtures import KANDJI_EXAMPLES, kandji_example
from tests.fixtures import mac_details_example as mac_details_example

TOKEN = "tok-3f9c1d7e-SECRET-4b2a"

EXAMPLES = KANDJI_EXAMPLES
"""The documented example bodies (one file per example; see INDEX.md there)."""

example = kandji_example
"""The decoded JSON of one example file, by its path under ``examples/``."""

Serve = Callable[[web.Application], Awaitable[str]]


class RecordingClock(FakeClock):
    """A fake clock (autojump by default) that remembers every sleep it was asked for."""

    def __init__(self, *, autojump: bool = True) -> None:
        super().__init__(autojump=autojump)
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await super().sleep(seconds)


@pytest.fixture
def clock() -> RecordingClock:
    return RecordingClock()


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start an aiohttp app on 127.0.0.1 (port 0); returns its base URL."""
    servers: list[TestServer] = []

    async def start(app: web.Application) -> str:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


def kandji_config(url: str, **overrides: Any) -> KandjiSourceConfig:
    """A Kandji source config for tests: fast retries, generous budget unless overridden."""
    values: dict[str, Any] = {
        "name": "acme",
        "kind": "kandji",
        "url": url,
        "token": SecretStr(TOKEN),
        "timeout": timedelta(seconds=5),
        "budget": BudgetConfig(requests_per_hour=10_000, burst_per_second=1000, concurrency=8),
        "retry": RetryConfig(
            max_attempts=4,
            backoff_base=timedelta(seconds=1),
            backoff_max=timedelta(seconds=30),
            max_retry_after=timedelta(minutes=5),
        ),
    }
    values.update(overrides)
    return KandjiSourceConfig(**values)
