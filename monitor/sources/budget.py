"""The request budget of one tenant, shared by every task that talks to it.

Kandji allows 10,000 requests per hour per tenant (shared with every other integration
of that tenant) and 50 per second. A :class:`RequestBudget` enforces three limits at
once, in this order, for every attempt (retries included):

1. ``concurrency``: at most that many requests in flight (an :class:`asyncio.Semaphore`);
2. ``requests_per_hour``: a sliding one-hour window on the injected :class:`Clock`. It is
   never exceeded: in any 3,600 seconds at most ``requests_per_hour`` slots are granted;
3. ``burst_per_second``: a per-second rate that counts a request from the moment it
   is let through until a second after its answer came
   (:class:`~monitor.sources.windows.RequestWindow`), and stays one under the
   gateway's own per-second limit once an answer's ``X-Ratelimit-Limit-Second`` told
   it: the gateway counts a request in the second it *arrives*, so requests in flight
   count.

The hourly window above counts this monitor's own requests. The tenant's budget is
shared with every other integration, so the budget also reads the vendor's rate-limit
headers on every answer (:meth:`RequestBudget.observe`: ``X-Ratelimit-Limit-Hour`` and
``X-Ratelimit-Remaining-Hour``, Kong's fixed clock-hour window) and keeps a
:class:`~monitor.sources.tenant.TenantView`: what the whole tenant has left, and how
fast the other integrations spend it, projected from successive readings.
:attr:`RequestBudget.remaining`, what a sweep plans against, is then
``min(own remaining, tenant headroom)``, the headroom being what the tenant has left
minus what the others will spend before the window resets minus a reserve
(``tenant_reserve`` of the tenant's limit: the source's ``budget.tenant_reserve``).
Requests slow down before the tenant runs dry: below one reserve of headroom (or while
the others' rate is not measured yet) they are spaced so the headroom lasts until the
reset, and at none they wait for the reset (or raise
:class:`~monitor.errors.BudgetExhaustedError` past ``max_wait``), instead of meeting a
429.

Usage::

    async with budget.slot():
        ...one HTTP attempt...
    budget.observe(response_headers)
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from monitor.clock import Clock
from monitor.errors import BudgetExhaustedError, StoreError
from monitor.settings import BudgetConfig
from monitor.sources.tenant import HOUR, TenantView
from monitor.sources.windows import RequestWindow, SlidingWindow

#: How long to wait before asking a full shared ledger again (seconds).
LEDGER_RECHECK = 60.0
#: How often a refusal of the ledger is asked again, a second apart, before giving up.
LEDGER_GRACE_TRIES = 2


class BudgetLedger(Protocol):
    """The hourly budget shared by every process on one store (restarts, ``once`` from
    cron, several instances): :meth:`monitor.store.base.Store.spend_budget`."""

    async def spend_budget(self, source: str, now: datetime, want: int, per_hour: int) -> int:
        """Take up to ``want`` requests of the hour at ``now``; how many were granted."""
        ...


@dataclass(frozen=True, slots=True)
class BudgetSnapshot:
    """The state of a budget, for logs, metrics and the status page."""

    limit_per_hour: int
    remaining: int
    spent_total: int
    in_flight: int
    waiting: int
    next_slot_in: float
    own_remaining: int = 0
    tenant_limit: int | None = None
    tenant_remaining: int | None = None
    others_per_hour: float | None = None

    @property
    def own_share(self) -> float | None:
        """This monitor's share of what the tenant spent this hour (0..1), when known."""
        if self.tenant_limit is None or self.tenant_remaining is None:
            return None
        spent = self.tenant_limit - self.tenant_remaining
        own = self.limit_per_hour - self.own_remaining
        if spent <= 0:
            return None
        return max(0.0, min(1.0, own / spent))


_MAX_HEADER_INT = 1_000_000_000


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    for key, value in headers.items():
        if key.lower() == name:
            text = value.strip()
            if text.isdigit() and len(text) <= 10 and int(text) <= _MAX_HEADER_INT:
                return int(text)
            return None
    return None


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
        per_second: RequestWindow | None = None,
        tenant_reserve: float | None = None,
        ledger: BudgetLedger | None = None,
        ledger_key: str = "",
    ) -> None:
        self.config = config
        self._clock = clock
        self.tenant = TenantView(clock)
        self.tenant_reserve = config.tenant_reserve if tenant_reserve is None else tenant_reserve
        # The shared hourly ledger, drawn from in small chunks (one request at a time
        # for small budgets), so no process ever spends what another already did.
        self._ledger = ledger
        self._ledger_key = ledger_key
        self._allowance = 0
        self._chunk = max(1, min(50, config.requests_per_hour // 200))
        self._ledger_lock = asyncio.Lock()
        self._hour = SlidingWindow(config.requests_per_hour, HOUR, clock)
        self._per_second = per_second or RequestWindow(config.burst_per_second, clock)
        self._concurrency = asyncio.Semaphore(config.concurrency)
        self._in_flight = 0
        self._waiting = 0
        self.spent_total = 0
        self._last_granted = -math.inf
        self._own_hour = -1
        self._own_hour_count = 0

    @property
    def limit(self) -> int:
        """Requests allowed per hour."""
        return self.config.requests_per_hour

    @property
    def own_remaining(self) -> int:
        """Requests this monitor's own (sliding) hour window still allows."""
        return self.limit - self._hour.used()

    @property
    def remaining(self) -> int:
        """Requests a sweep may plan on: the own window's, or less when the tenant's
        headroom (see :class:`TenantView`) is smaller."""
        own = self.own_remaining
        headroom = self.tenant.headroom(self.spent_total, self.tenant_reserve)
        return own if headroom is None else max(0, min(own, headroom))

    def observe(self, headers: Mapping[str, str]) -> None:
        """Read the gateway's per-second limit and the tenant's hour from an answer's
        rate-limit headers (if it has them)."""
        per_second = _header_int(headers, "x-ratelimit-limit-second")
        if per_second:
            self._per_second.cap(per_second)
        limit = _header_int(headers, "x-ratelimit-limit-hour")
        remaining = _header_int(headers, "x-ratelimit-remaining-hour")
        if limit is None or remaining is None or remaining > limit or limit == 0:
            return
        self.tenant.observe(limit, remaining, self.spent_total, self._own_counted())

    def _own_counted(self) -> int:
        """This clock hour's requests the gateway has surely counted: those in flight
        may not have reached it yet (counting them would hide others' spending)."""
        this_hour = self._own_hour_count if self._own_hour == self.tenant.hour_now() else 0
        return max(0, this_hour - self._in_flight)

    def own_ready_in(self, requests: int) -> float:
        """Seconds until the own hourly window has room for ``requests`` more."""
        return self._hour.wait_time(max(1, requests))

    def own_freed_within(self, seconds: float) -> int:
        """Requests the own hourly window has room for now, plus those it frees within
        ``seconds``: what a sweep spreading its requests over that time may plan on."""
        return self.own_remaining + self._hour.freed_within(seconds)

    def tenant_wait(self) -> float:
        """Seconds to hold the next request so the tenant does not run dry: none while
        the headroom is a reserve or more, spaced so it lasts until the reset below
        that, and until the reset when there is none."""
        headroom = self.tenant.headroom(self.spent_total, self.tenant_reserve)
        if headroom is None or self.tenant.limit is None:
            return 0.0
        band = math.ceil(self.tenant.limit * self.tenant_reserve)
        if headroom >= band and self.tenant.measured():
            return 0.0
        to_reset = self.tenant.seconds_to_reset()
        if headroom <= 0:
            return to_reset
        spacing = to_reset / headroom
        wait = spacing - (self._clock.monotonic() - self._last_granted)
        # Below a millisecond is float noise (a fake clock would never get past it).
        return wait if wait > 1e-3 else 0.0

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
            own_remaining=self.own_remaining,
            tenant_limit=self.tenant.limit,
            tenant_remaining=self.tenant.current_remaining(self.spent_total),
            others_per_hour=(
                None if self.tenant.remaining is None else self.tenant.others_rate * HOUR
            ),
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
                self._per_second.release()
        finally:
            self._concurrency.release()

    async def _draw(self) -> bool:
        """One request from the shared ledger (always granted without one)."""
        if self._ledger is None:
            return True
        async with self._ledger_lock:
            if self._allowance == 0:
                try:
                    self._allowance = await self._ledger.spend_budget(
                        self._ledger_key, self._clock.now(), self._chunk, self.limit
                    )
                except StoreError as exc:
                    raise BudgetExhaustedError(
                        f"the shared request budget cannot be read: {exc}",
                        retry_after=LEDGER_RECHECK,
                    ) from exc
            if self._allowance == 0:
                return False
            self._allowance -= 1
            return True

    async def _take(self, max_wait: float | None) -> None:
        refusals = 0
        while True:
            wait = self._hour.wait_time()
            what = f"hourly request budget ({self.limit}) spent"
            if wait <= 0:
                wait = self.tenant_wait()
                what = "the tenant's hourly budget is nearly spent by every integration"
                if wait <= 0:
                    # Take the spaced turn now, before any await: concurrent callers
                    # must not all find the spacing elapsed and go together.
                    self._last_granted = self._clock.monotonic()
            if wait <= 0 and not await self._draw():
                # The ledger counts whole seconds, so it may free a request up to a second
                # after this process's own window does: ask again once or twice.
                refusals += 1
                if refusals <= LEDGER_GRACE_TRIES:
                    await self._clock.sleep(1.0)
                    continue
                # Other processes on this store spent the hour already: this sweep stops
                # here (what it did not read is held) rather than waiting up to an hour.
                raise BudgetExhaustedError(
                    f"hourly request budget ({self.limit}) spent, shared with every "
                    "process on this store",
                    retry_after=LEDGER_RECHECK,
                )
            if wait > 0:
                if max_wait is not None and wait > max_wait:
                    raise BudgetExhaustedError(
                        f"{what}; next slot in {wait:.0f}s", retry_after=wait
                    )
                await self._clock.sleep(wait)
                continue
            await self._per_second.acquire()
            # The per-second wait may have let others fill the hour: check and record
            # in one step with no await in between, so the hour is never exceeded.
            if not self._hour.try_record():
                self._per_second.forget()
            else:
                self._last_granted = self._clock.monotonic()
                hour = self.tenant.hour_now()
                if hour != self._own_hour:
                    self._own_hour, self._own_hour_count = hour, 0
                self._own_hour_count += 1
                return
            if self._ledger is not None:
                self._allowance += 1  # not used: keep the drawn request for the next try


__all__ = [
    "BudgetSnapshot",
    "RequestBudget",
    "RequestWindow",
    "SlidingWindow",
    "TenantView",
]
