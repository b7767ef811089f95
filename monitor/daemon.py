"""The running daemon: one coordinator per source, housekeeping, shutdown.

A :class:`SourceCoordinator` sweeps its source on a fixed cadence: each sweep is due
one step after the last one's slot, plus a small jitter drawn per slot (so sources of
one tenant, and instances started together, do not hit the API in the same second).
The step is the configured interval, or shorter when the sweeper says its budget
affords a full pass sooner (``cadence``: :func:`monitor.sources.base.cadence_of`); the
interval is the longest a source ever waits. A sweep that overruns its slot skips the
slots it missed rather than sweeping back to back. The first sweep runs at once and its
outcome is logged on its own line and kept in :attr:`SourceCoordinator.first_sweep`, so
a daemon that cannot reach a source says so in its first seconds. A token the API
refuses (401/403) is logged apart from transient failures and raises the "source
unhealthy" alert at once (see :mod:`monitor.health`).

With a :class:`~monitor.leasing.LeaseKeeper`, a coordinator sweeps only while this
instance holds its source's lease; without it, it stands by, looking again every tick
of the keeper, and sweeps at once when the lease comes (another instance died or gave
the source up). The daemon ticks the keeper on its own task and gives every lease back
on a clean shutdown.

:class:`Daemon` runs the coordinators, the housekeeping chore and the notification
loop until stopped, then shuts down in order: finish the current sweeps, stop the
notifier, drain the outbox, all within the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from monitor.clock import Clock
from monitor.errors import MonitorError, StoreError
from monitor.leasing import LeaseKeeper
from monitor.log import redact
from monitor.models import SweepStats
from monitor.store.base import Store

log = structlog.get_logger(__name__)

HOUSEKEEPING_EVERY = timedelta(hours=1)
#: How long transitions, sweeps, delivered messages and ended silences are kept.
HISTORY_RETAINED = timedelta(days=30)
#: What the jitter may add to a slot, as a fraction of the interval (and at most ``MAX_JITTER``).
JITTER_FRACTION = 0.05
MAX_JITTER = timedelta(seconds=30)

SweepFn = Callable[[str], Awaitable[SweepStats]]


class Notifier(Protocol):
    """The notification loop as the daemon drives it."""

    async def run(self) -> None:
        """Deliver until stopped."""
        ...

    def stop(self) -> None:
        """Finish the current step and return from :meth:`run`."""
        ...

    async def drain(self, timeout: float) -> object:
        """Deliver what is due, for at most ``timeout`` seconds."""
        ...


class Stopper:
    """A stop request the loops wait on, with a sleep that ends early when it comes."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._event = asyncio.Event()

    def set(self) -> None:
        """Ask every loop to finish its current step."""
        self._event.set()

    def is_set(self) -> bool:
        """Whether a stop was asked for."""
        return self._event.is_set()

    async def wait(self) -> None:
        """Wait until a stop is asked for."""
        await self._event.wait()

    async def sleep(self, seconds: float) -> None:
        """Sleep on the clock for ``seconds``, or until a stop is asked for."""
        if seconds <= 0:
            return
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        stopper = asyncio.ensure_future(self._event.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()


def jitter_for(name: str, interval: timedelta) -> Callable[[], float]:
    """A source's jitter draw (seconds): seeded by its name, bounded by the interval."""
    cap = min(interval.total_seconds() * JITTER_FRACTION, MAX_JITTER.total_seconds())
    rng = random.Random(name)  # not for security: spreads sweeps, reproducibly
    return lambda: rng.uniform(0.0, cap)


class SourceCoordinator:
    """Sweeps one source on a fixed cadence with jitter; see the module docstring."""

    def __init__(
        self,
        name: str,
        interval: timedelta,
        sweep: SweepFn,
        clock: Clock,
        stopper: Stopper,
        *,
        jitter: Callable[[], float] | None = None,
        leases: LeaseKeeper | None = None,
        cadence: Callable[[str], float] | None = None,
    ) -> None:
        self.name = name
        self._leases = leases
        self.interval = interval.total_seconds()
        self._cadence = cadence
        self._sweep = sweep
        self._clock = clock
        self._stopper = stopper
        self._jitter = jitter or jitter_for(name, interval)
        self.first_sweep: asyncio.Future[SweepStats] = (
            asyncio.get_running_loop().create_future()
        )
        self.skipped = 0

    async def run(self) -> None:
        """Sweep until stopped; a sweep that raises is logged and the cadence kept."""
        slot = self._clock.monotonic()  # the current slot's start, without its jitter
        while not self._stopper.is_set():
            if self._leases is not None and self._leases.holds(self.name) is None:
                # Standing by: another instance sweeps this source (or nobody, for now).
                await self._stopper.sleep(self._leases.tick_every)
                slot = self._clock.monotonic()  # sweep at once when it comes
                continue
            stats = await self._one()
            if stats is not None and not self.first_sweep.done():
                self.first_sweep.set_result(stats)
                log.info(
                    "first sweep", source=self.name, ok=stats.ok, devices=stats.devices,
                    firing=stats.firing, error=stats.error or None,
                )
            step = self.step()
            steps = int((self._clock.monotonic() - slot) // step) + 1 if step > 0 else 1
            if steps > 1:
                self.skipped += steps - 1
                log.warning(
                    "sweep overran its interval", source=self.name,
                    skipped=steps - 1, interval_s=step,
                )
            slot += steps * step
            due = slot + min(self._jitter(), step * JITTER_FRACTION)
            await self._stopper.sleep(due - self._clock.monotonic())

    def step(self) -> float:
        """Seconds from one slot to the next: the interval, or the sweeper's cadence."""
        return self.interval if self._cadence is None else self._cadence(self.name)

    async def _one(self) -> SweepStats | None:
        try:
            if self._leases is None:
                return await self._sweep(self.name)
            with self._leases.sweeping(self.name):
                return await self._sweep(self.name)
        except MonitorError as exc:
            log.error("sweep aborted", source=self.name, error=str(exc))
            return None


class Daemon:
    """Runs the coordinators, housekeeping and the notifier until :meth:`stop`."""

    def __init__(
        self,
        coordinators: Sequence[SourceCoordinator],
        notifier: Notifier,
        housekeeping: Callable[[], Awaitable[None]],
        stopper: Stopper,
        *,
        grace: timedelta,
        leases: LeaseKeeper | None = None,
    ) -> None:
        self.coordinators = list(coordinators)
        self._leases = leases
        self._notifier = notifier
        self._housekeeping = housekeeping
        self._stopper = stopper
        self._grace = grace.total_seconds()

    def stop(self) -> None:
        """Ask the daemon to finish its current step and shut down."""
        self._stopper.set()

    async def run(self) -> None:
        """Run until :meth:`stop`, then shut down within the grace period."""
        if self._leases is not None:
            await self._leases.tick()  # take this instance's share before sweeping
        leasing = asyncio.create_task(self._keep_leases(), name="leases")
        loops = [asyncio.create_task(c.run(), name=f"sweep:{c.name}") for c in self.coordinators]
        for loop in loops:
            loop.add_done_callback(_report_death)
        chores = asyncio.create_task(self._chores(), name="housekeeping")
        notifier = asyncio.create_task(self._notifier.run(), name="notify")
        log.info("started", sources=[c.name for c in self.coordinators])
        try:
            await self._stopper.wait()
        finally:
            await self._shutdown(loops, chores, notifier)
            leasing.cancel()
            await asyncio.gather(leasing, return_exceptions=True)
            if self._leases is not None:
                await self._leases.release_all()

    async def _shutdown(
        self,
        loops: list[asyncio.Task[None]],
        chores: asyncio.Task[None],
        notifier: asyncio.Task[None],
    ) -> None:
        # Finish the current sweep step, then deliver what is due, within the grace period.
        grace = self._grace
        if loops:
            _, pending = await asyncio.wait(loops, timeout=grace / 2)
            for t in pending:
                t.cancel()
        chores.cancel()
        self._notifier.stop()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(notifier, timeout=grace / 4)
        with contextlib.suppress(TimeoutError, MonitorError):
            await asyncio.wait_for(self._notifier.drain(grace / 4), timeout=grace / 4)
        notifier.cancel()
        await asyncio.gather(*loops, chores, notifier, return_exceptions=True)
        log.info("stopped")

    async def _keep_leases(self) -> None:
        if self._leases is None:
            return
        while not self._stopper.is_set():
            await self._stopper.sleep(self._leases.tick_every)
            await self._leases.tick()

    async def _chores(self) -> None:
        while not self._stopper.is_set():
            try:
                await self._housekeeping()
            except StoreError as exc:
                log.error("housekeeping failed", error=str(exc))
            await self._stopper.sleep(HOUSEKEEPING_EVERY.total_seconds())


async def prune_history(store: Store, leases: LeaseKeeper, now: datetime) -> None:
    """Forget what is older than :data:`HISTORY_RETAINED`: done by the instance holding
    the duties lease, once for the cluster."""
    if await leases.duties() is None:
        return
    removed = await store.prune(now - HISTORY_RETAINED)
    if any(removed.values()):
        log.info("pruned history", **removed)


def _report_death(task: asyncio.Task[None]) -> None:
    """A source loop that ends by an unexpected exception is logged, never lost quietly
    (the source then stops being swept, which /readyz reports once it is overdue)."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error(
            "source loop died", task=task.get_name(), error_type=type(exc).__name__,
            error=redact(str(exc)),
        )
