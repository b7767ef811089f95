"""The request budget of one tenant, shared by every task that talks to it.

Kandji allows 10,000 requests per hour per tenant (shared with every other integration
of that tenant) and 50 per second. A :class:`RequestBudget` enforces three limits at
once, in this order, for every attempt (retries included):

1. ``concurrency``: at most that many requests in flight (an :class:`asyncio.Semaphore`);
2. ``requests_per_hour``: a sliding one-hour window on the injected :class:`Clock`. It is
   never exceeded: in any 3,600 seconds at most ``requests_per_hour`` slots are granted;
3. ``burst_per_second``: a per-second rate, enforced by asyncio-throttle's
   :class:`~asyncio_throttle.Throttler` in production. Only a simulated clock
   (:class:`~monitor.clock.FakeClock`, in tests and simulations) gets a sliding
   one-second window on that clock instead, because ``Throttler`` reads and sleeps on
   the event loop's clock, which would make simulated hours take real hours.

Usage::

    async with budget.slot():
        ...one HTTP attempt...
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from asyncio_throttle.throttler import Throttler

from monitor.clock import Clock, FakeClock
from monitor.errors import BudgetExhaustedError
from monitor.settings import BudgetConfig

HOUR = 3600.0
EXPIRY_TOLERANCE = 1e-9
"""Seconds by which a stamp may leave its window early. A wait computed as ``oldest +
period - now`` and slept exactly can end a float rounding error short of the moment
the oldest stamp leaves; without this tolerance, on a clock that jumps by exactly the
time asked (a fake clock in simulations), the caller would wait ~0 seconds forever."""


class RateGate(Protocol):
    """Something that admits calls at a bounded rate; ``acquire`` waits for a turn."""

    async def acquire(self) -> None:
        """Wait until one more call may start, and count it."""
        ...


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

    def wait_time(self) -> float:
        """Seconds until one more event fits (0 when it fits now)."""
        now = self._clock.monotonic()
        self._prune(now)
        if len(self._stamps) < self.limit:
            return 0.0
        # The window is full: the event that leaves first frees the next slot.
        oldest = self._stamps[len(self._stamps) - self.limit]
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


class ThrottlerGate:
    """The per-second rate on the real clock, enforced by asyncio-throttle."""

    def __init__(self, per_second: float) -> None:
        # Throttler counts whole calls per period; a fractional rate such as 2.5/s
        # becomes 2 calls per 0.8 s, the same average with the smallest burst.
        calls = max(1, math.floor(per_second))
        self._throttler = Throttler(rate_limit=calls, period=calls / per_second)

    async def acquire(self) -> None:
        """Wait for a turn (real time)."""
        await self._throttler.acquire()  # type: ignore[no-untyped-call]  # untyped library


def per_second_gate(per_second: float, clock: Clock) -> RateGate:
    """The per-second limiter for ``clock``: asyncio-throttle, unless the clock is
    simulated (then a window on that clock, so simulated time needs no real waiting)."""
    if not isinstance(clock, FakeClock):
        return ThrottlerGate(per_second)
    calls = max(1, math.floor(per_second))
    return SlidingWindow(calls, calls / per_second, clock)


@dataclass(frozen=True, slots=True)
class BudgetSnapshot:
    """The state of a budget, for logs, metrics and the status page."""

    limit_per_hour: int
    remaining: int
    spent_total: int
    in_flight: int
    waiting: int
    next_slot_in: float


class RequestBudget:
    """The request budget of one tenant: hourly window, per-second rate, concurrency.

    Share one instance between every client and task of a tenant. Every HTTP attempt
    (retries included) takes one slot with :meth:`slot`.
    """

    def __init__(
        self,
        config: BudgetConfig,
        clock: Clock,
        *,
        per_second: RateGate | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._hour = SlidingWindow(config.requests_per_hour, HOUR, clock)
        self._per_second = per_second or per_second_gate(config.burst_per_second, clock)
        self._concurrency = asyncio.Semaphore(config.concurrency)
        self._in_flight = 0
        self._waiting = 0
        self.spent_total = 0

    @property
    def limit(self) -> int:
        """Requests allowed per hour."""
        return self.config.requests_per_hour

    @property
    def remaining(self) -> int:
        """Requests still allowed in the current (sliding) hour window."""
        return self.limit - self._hour.used()

    @property
    def in_flight(self) -> int:
        """Requests holding a slot now."""
        return self._in_flight

    @property
    def waiting(self) -> int:
        """Callers waiting for a slot now."""
        return self._waiting

    def reserve_wait(self) -> float:
        """Seconds until the hourly window has room for one more request (0 if now)."""
        return self._hour.wait_time()

    def snapshot(self) -> BudgetSnapshot:
        """The current numbers, in one object."""
        return BudgetSnapshot(
            limit_per_hour=self.limit,
            remaining=self.remaining,
            spent_total=self.spent_total,
            in_flight=self._in_flight,
            waiting=self._waiting,
            next_slot_in=self.reserve_wait(),
        )

    @asynccontextmanager
    async def slot(self, *, max_wait: float | None = None) -> AsyncIterator[None]:
        """Hold one request slot for the body of the ``async with``.

        Waits (on the injected clock) for a free concurrency slot, room in the hourly
        window and a turn in the per-second rate. When the hourly window would make the
        caller wait longer than ``max_wait`` seconds, raises
        :class:`~monitor.errors.BudgetExhaustedError` (with ``retry_after``) instead.
        """
        self._waiting += 1
        try:
            await self._concurrency.acquire()
        except BaseException:
            self._waiting -= 1
            raise
        try:
            try:
                await self._take(max_wait)
            finally:
                self._waiting -= 1
            self._in_flight += 1
            self.spent_total += 1
            try:
                yield
            finally:
                self._in_flight -= 1
        finally:
            self._concurrency.release()

    async def _take(self, max_wait: float | None) -> None:
        while True:
            wait = self._hour.wait_time()
            if wait > 0:
                if max_wait is not None and wait > max_wait:
                    raise BudgetExhaustedError(
                        f"hourly request budget ({self.limit}) spent; next slot in {wait:.0f}s",
                        retry_after=wait,
                    )
                await self._clock.sleep(wait)
                continue
            await self._per_second.acquire()
            # The per-second wait may have let others fill the hour: check and record
            # in one step with no await in between, so the hour is never exceeded.
            if self._hour.try_record():
                return


__all__ = [
    "BudgetSnapshot",
    "RateGate",
    "RequestBudget",
    "SlidingWindow",
    "ThrottlerGate",
    "per_second_gate",
]
