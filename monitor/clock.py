"""Time, injected.

Nothing outside this module reads the wall clock. Loops take a :class:`Clock`; pure
functions take ``now`` (an aware UTC datetime). Tests use :class:`FakeClock`, whose
``sleep`` returns when the test advances time past the deadline. :func:`format_age` is
the one way a duration is written for people (``40s``, ``5m``, ``1h 30m``, ``2d 4h``).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What a loop needs of time."""

    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for durations and deadlines)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (0 or less yields once)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that moves only when told to.

    ``sleep`` parks the caller until :meth:`advance` (or :meth:`set`) moves time past its
    deadline. ``autojump`` makes every ``sleep`` advance time by itself, which turns a
    daemon loop into a fast simulation of hours of running.
    """

    def __init__(self, start: datetime | None = None, *, autojump: bool = False) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._mono = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self.autojump = autojump

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        if self.autojump:
            self.advance(max(0.0, seconds))
            await asyncio.sleep(0)
            return
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._seq), fut))
        await fut

    def advance(self, seconds: float | timedelta) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        step = seconds.total_seconds() if isinstance(seconds, timedelta) else float(seconds)
        if step < 0:
            raise ValueError("time does not go back")
        self._mono += step
        self._now += timedelta(seconds=step)
        while self._sleepers and self._sleepers[0][0] <= self._mono:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (not earlier than now)."""
        self.advance(when - self._now)

    @property
    def sleepers(self) -> int:
        """How many callers are parked in ``sleep``."""
        return sum(1 for _, _, f in self._sleepers if not f.done())


def utc(dt: datetime) -> datetime:
    """Return ``dt`` as an aware UTC datetime (naive values are taken as UTC)."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def format_age(seconds: float) -> str:
    """A coarse age, precise enough to glance at: ``40s``, ``5m``, ``1h 30m``, ``2d 4h``."""
    whole = int(max(0.0, seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m"
    if whole < 86400:
        hours, minutes = divmod(whole // 60, 60)
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(whole // 3600, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"
