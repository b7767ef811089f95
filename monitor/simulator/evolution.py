"""Time passing in a simulated tenant: the background task that advances its fleet.

A simulated API built with ``evolve_every`` advances its fleet by that many seconds of
the fleet's clock, every that many seconds, for as long as the app runs. On a
:class:`~monitor.clock.FakeClock` nothing happens until a test moves time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from monitor.clock import Clock


async def evolve_forever(clock: Clock, every: float | None, step: Callable[[float], None]) -> None:
    """Call ``step(every)`` after every ``every`` seconds of ``clock``; return at once
    when ``every`` is unset or not positive."""
    if not every or every <= 0:
        return
    while True:
        await clock.sleep(every)
        step(every)


@contextlib.asynccontextmanager
async def in_background(work: Coroutine[Any, Any, None] | None) -> AsyncIterator[None]:
    """Run ``work`` as a task while the context is open; cancel and await it on exit."""
    task = asyncio.create_task(work) if work is not None else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
