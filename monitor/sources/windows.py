"""Request windows on an injected clock: the hourly one and the per-second one.

:class:`SlidingWindow` counts events at the moment they are let through: at most
``limit`` in any ``period`` seconds. It holds the monitor's own hourly budget.

:class:`RequestWindow` is the per-second rate. The vendor's gateway (Kong) counts a
request in the fixed one-second window in which it *arrives*, which is some time after
the monitor let it through (the connection, the queue, the event loop). A window that
only counts requests when they start lets a request started at the end of one second
arrive in the next, beside that second's full share: a 429 with no other consumer on
the tenant. So a :class:`RequestWindow` counts a request from the moment it is let
through until ``period`` after it *completed* (its answer is in): at any instant, the
requests in flight plus those completed within the last period are at most ``limit``.
Every request that arrives in a fixed second ``[s, s + 1)`` was let through before
``s + 1`` and completed after ``s``, so all of them were counted together just before
``s + 1``: the gateway never sees more than ``limit`` in one of its seconds, whatever
its windows' alignment and however long requests take. The gateway's own limit, read
from each answer's ``X-Ratelimit-Limit-Second``, caps the window at one under it
(:meth:`RequestWindow.cap`), the margin for a server clock that runs a little fast.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque

from monitor.clock import Clock

EXPIRY_TOLERANCE = 1e-9
"""Seconds by which a stamp may leave its window early. A wait computed as ``oldest +
period - now`` and slept exactly can end a float rounding error short of the moment
the oldest stamp leaves; without this tolerance, on a clock that jumps by exactly the
time asked (a fake clock in simulations), the caller would wait ~0 seconds forever."""


class SlidingWindow:
    """At most ``limit`` events in any ``period`` seconds, timed on ``clock``.

    Keeps one timestamp per event still inside the window, so the count is exact (no
    bucket boundaries to burst across).
    """

    def __init__(self, limit: int, period: float, clock: Clock) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("a window needs limit >= 1 and period > 0")
        self.limit = limit
        self.period = period
        self._clock = clock
        self._stamps: deque[float] = deque()

    def _prune(self, now: float) -> None:
        horizon = now - self.period + EXPIRY_TOLERANCE
        while self._stamps and self._stamps[0] <= horizon:
            self._stamps.popleft()

    def used(self) -> int:
        """Events inside the window now."""
        self._prune(self._clock.monotonic())
        return len(self._stamps)

    def freed_within(self, seconds: float) -> int:
        """Events now inside the window that leave it within ``seconds``."""
        now = self._clock.monotonic()
        self._prune(now)
        horizon = now + seconds - self.period + EXPIRY_TOLERANCE
        freed = 0
        for stamp in self._stamps:
            if stamp > horizon:
                break
            freed += 1
        return freed

    def wait_time(self, events: int = 1) -> float:
        """Seconds until ``events`` more fit (0 when they fit now; never, for more than
        the limit: the period)."""
        now = self._clock.monotonic()
        self._prune(now)
        if events > self.limit:
            return self.period
        if len(self._stamps) + events <= self.limit:
            return 0.0
        # The window is too full: the stamp whose leaving makes room for the last one.
        oldest = self._stamps[len(self._stamps) + events - 1 - self.limit]
        return max(0.0, oldest + self.period - now)

    def try_record(self) -> bool:
        """Count one event now if it fits; say whether it did. Never awaits."""
        now = self._clock.monotonic()
        self._prune(now)
        if len(self._stamps) >= self.limit:
            return False
        self._stamps.append(now)
        return True

    async def acquire(self) -> None:
        """Wait on the clock until one more event fits, then count it."""
        while not self.try_record():
            await self._clock.sleep(self.wait_time())


class RequestWindow:
    """The per-second rate, counting requests in flight (see the module doc).

    ``per_second`` is the configured rate. A whole rate ``n`` is ``n`` requests in any
    second; a fractional one keeps its average with the smallest burst (2.5/s is 2 per
    0.8 s, 0.5/s is 1 per 2 s). :meth:`acquire` lets one request through,
    :meth:`release` says it completed and :meth:`forget` that it was never sent.
    """

    def __init__(self, per_second: float, clock: Clock) -> None:
        if per_second <= 0:
            raise ValueError("a rate must be positive")
        self.per_second = per_second
        self.limit = max(1, math.floor(per_second))
        self.period = self.limit / per_second
        self.server_limit: int | None = None
        self._clock = clock
        self._stamps: deque[float] = deque()  # completion times, oldest first
        self._open = 0
        self._released = asyncio.Event()

    def cap(self, server_limit: int) -> None:
        """The gateway's per-second limit, as an answer's headers gave it: from now on
        at most one under it in any second (never above the configured rate)."""
        if server_limit < 1 or server_limit == self.server_limit:
            return
        self.server_limit = server_limit
        ceiling = max(1, server_limit - 1)
        if ceiling < self.per_second:
            self.limit, self.period = ceiling, 1.0
        else:
            self.limit = max(1, math.floor(self.per_second))
            self.period = self.limit / self.per_second

    def in_window(self) -> int:
        """Requests counted now: in flight, or completed within the last period."""
        horizon = self._clock.monotonic() - self.period + EXPIRY_TOLERANCE
        while self._stamps and self._stamps[0] <= horizon:
            self._stamps.popleft()
        return self._open + len(self._stamps)

    def wait_time(self) -> float | None:
        """Seconds until one more request fits (0: now; None: when one in flight
        completes, the window holding nothing else that could leave it)."""
        excess = self.in_window() - self.limit
        if excess < 0:
            return 0.0
        if excess >= len(self._stamps):
            return None
        return max(0.0, self._stamps[excess] + self.period - self._clock.monotonic())

    async def acquire(self) -> None:
        """Wait on the clock until one more request fits, then count it as in flight."""
        while True:
            wait = self.wait_time()
            if wait == 0.0:
                self._open += 1
                return
            if wait is None:
                await self._released.wait()
            else:
                await self._clock.sleep(wait)

    def release(self) -> None:
        """A request let through has completed: it counts for one more period."""
        self._open = max(0, self._open - 1)
        self._stamps.append(self._clock.monotonic())
        self._wake()

    def forget(self) -> None:
        """A request let through was not sent after all: it does not count."""
        self._open = max(0, self._open - 1)
        self._wake()

    def _wake(self) -> None:
        self._released.set()
        self._released = asyncio.Event()


__all__ = ["EXPIRY_TOLERANCE", "RequestWindow", "SlidingWindow"]
