"""The status web app on a real loopback port, over the sample state of tests/web."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic import SecretStr

from monitor.clock import FakeClock
from monitor.metrics import Metrics
from monitor.web.app import build_web_app, start_web
from tests.web.sample import NOW, sample_provider


@asynccontextmanager
async def status_site(
    *, token: str | None = None, ready: bool = True, reasons: tuple[str, ...] = (), **options: Any
) -> AsyncIterator[str]:
    """Serve the status app on 127.0.0.1 (any port); yields its base URL."""
    app = build_web_app(
        sample_provider(ready=ready, reasons=reasons),
        Metrics(),
        token=SecretStr(token) if token is not None else None,
        clock=FakeClock(NOW),
        **options,
    )
    runner, port = await start_web(app, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
