"""Which sources this instance sweeps: leases taken, renewed, shared out and given back.

Several instances on one store spread the configured sources between them; each source
is swept by the holder of its lease (see :class:`monitor.store.Lease`). Every
``ttl / 3`` each instance's :class:`LeaseKeeper` ticks:

1. it says it is alive (a heartbeat in the store) and learns which instances are;
2. it renews the leases it holds. One it cannot renew is lost: it lapsed and another
   instance took it (this process was paused, or the store was unreachable too long);
3. it gives back leases beyond its share. With ``M`` sources over ``N`` live instances
   every instance should hold between ``M // N`` and ``ceil(M / N)``; one holding more
   than that, or more than ``M // N`` while another holds fewer, releases the surplus,
   sources not being swept at the moment first;
4. it takes free or lapsed leases up to its share, in an order of its own (rendezvous
   hashing of instance and source name), so instances that start together reach for
   different sources.

A dead instance's sources are taken over once its leases lapse: within ``ttl`` plus one
tick. An instance named by default (``host:pid``) also takes over at once the leases of
a dead process of its own host, so a daemon restarted after a crash sweeps without
waiting for its predecessor's leases to lapse. A short ``ttl`` means a quicker takeover
and more store writes (three renewals a ``ttl`` per instance and source); a long one
rides out longer store outages and pauses.

Every write made on behalf of a source carries its lease, and the store refuses it when
the lease is no longer the current one, so an instance that lost a lease (paused past
it, then resumed) changes nothing for that source.

Besides the sources there is one more lease, :data:`DUTIES`, shared out like a source:
its holder does what the cluster must do once, not once per instance (owner notices,
digests, pruning old history, and the notification groups no source speaks for).
"""

from __future__ import annotations

import hashlib
import math
import os
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

import structlog

from monitor.clock import Clock
from monitor.errors import StoreError
from monitor.store.base import Lease, Store

log = structlog.get_logger(__name__)

#: The lease on the cluster's duties (see the module docstring). No source can have this
#: name: source names start with a letter or a digit.
DUTIES = "@duties"


def default_instance_name() -> str:
    """``host:pid``: unique among live processes, and telling a dead local one apart."""
    return f"{socket.gethostname()}:{os.getpid()}"


def dead_local_process(owner: str) -> bool:
    """Whether ``owner`` names a process of this host (``host:pid``) that is gone."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists (another user's): alive
        return False
    return False


def preference(owner: str, source: str) -> str:
    """This owner's rank of a source (rendezvous hashing; lower is preferred)."""
    return hashlib.sha256(f"{owner}\x00{source}".encode()).hexdigest()


class LeaseKeeper:
    """Holds this instance's share of the sources' leases; see the module docstring.

    ``on_change(source, held, takeover)`` is told when a lease is taken (``takeover``:
    from another instance) or lost/given back.
    """

    def __init__(
        self,
        store: Store,
        owner: str,
        sources: Sequence[str],
        ttl: timedelta,
        clock: Clock,
        *,
        on_change: Callable[[str, bool, bool], None] | None = None,
    ) -> None:
        self._store = store
        self.owner = owner
        self.sources = sorted([*sources, DUTIES], key=lambda s: preference(owner, s))
        self.ttl = ttl
        self._clock = clock
        self._held: dict[str, Lease] = {}
        self._busy: set[str] = set()
        self._on_change = on_change
        self.takeovers = 0
        self.live: list[str] = [owner]
        self.last_tick_ok: datetime | None = None
        self.last_error = ""

    @property
    def solo(self) -> bool:
        """Whether this is the only live instance (as of the last tick)."""
        return self.live == [self.owner]

    @property
    def tick_every(self) -> float:
        """Seconds between ticks: a third of the TTL."""
        return self.ttl.total_seconds() / 3

    def holds(self, source: str) -> Lease | None:
        """The lease this instance holds on ``source``, if it has not lapsed."""
        lease = self._held.get(source)
        if lease is None or lease.expires_at <= self._clock.now():
            return None
        return lease

    def held(self) -> dict[str, Lease]:
        """Every lease held now, by source."""
        return {s: lease for s in self._held if (lease := self.holds(s)) is not None}

    async def ensure(self, source: str) -> Lease | None:
        """The lease on ``source``, taken now if it is free (a one-off sweep outside the
        daemon's schedule); None while another live instance holds it."""
        held = self.holds(source)
        if held is not None:
            return held
        now = self._clock.now()
        rows = {row.source: row for row in await self._store.leases()}
        await self._take_one(source, rows.get(source), now)
        # Just taken: what is written under it is checked against the store anyway.
        return self._held.get(source)

    async def refresh(self, lease: Lease) -> Lease | None:
        """``lease`` renewed now, before writing what was decided under it; None when
        another instance held the source meanwhile. A lease that lapsed with nobody
        else taking it (the next epoch is ours) is as good as renewed."""
        now = self._clock.now()
        renewed = await self._store.renew_lease(lease, now, self.ttl)
        if renewed is None:
            rows = {row.source: row for row in await self._store.leases()}
            await self._take_one(lease.source, rows.get(lease.source), now)
            taken = self._held.get(lease.source)
            if taken is None or taken.epoch != lease.epoch + 1:
                return None
            renewed = taken
        self._held[lease.source] = renewed
        return renewed

    async def take_share(self, sources: Iterable[str]) -> list[str]:
        """Tick once, then which of ``sources`` this instance holds: what a one-off run
        (``once``) may sweep, since a running daemon keeps the leases it holds."""
        await self.tick()
        wanted = list(sources)
        held = [n for n in wanted if self.holds(n) is not None]
        if len(held) < len(wanted):
            log.info("sources swept by another instance", skipped=sorted(set(wanted) - set(held)))
        return held

    async def duties(self) -> Lease | None:
        """The duties lease when this instance is the one to do the cluster's duties:
        held now, or taken now when this instance is alone; None otherwise."""
        if self.solo:
            return await self.ensure(DUTIES)
        return self.holds(DUTIES)

    @contextmanager
    def sweeping(self, source: str) -> Iterator[None]:
        """Mark ``source`` as being swept: its lease is not given back meanwhile."""
        self._busy.add(source)
        try:
            yield
        finally:
            self._busy.discard(source)

    async def tick(self) -> None:
        """Beat, renew, rebalance; StoreError is logged, the leases then lapse by themselves."""
        try:
            await self._tick()
        except StoreError as exc:
            self.last_error = str(exc)
            log.error("lease.tick_failed", owner=self.owner, error=str(exc))
        else:
            self.last_tick_ok = self._clock.now()
            self.last_error = ""

    def store_writable(self) -> bool:
        """Whether the last tick wrote to the store within one TTL (readiness)."""
        if self.last_tick_ok is None:
            return not self.last_error
        return self._clock.now() - self.last_tick_ok <= self.ttl

    async def _tick(self) -> None:
        now = self._clock.now()
        live = []
        for name in await self._store.heartbeat(self.owner, now, self.ttl):
            if dead_local_process(name):
                # A crashed process of this host: what it claimed is free again at once.
                released = await self._store.release_claims(name)
                await self._store.leave(name, now)
                log.info("instance.dead", instance=name, claims_released=released)
            else:
                live.append(name)
        self.live = live
        for source, lease in list(self._held.items()):
            renewed = await self._store.renew_lease(lease, now, self.ttl)
            if renewed is None:
                del self._held[source]
                log.warning("lease.lost", source=source, owner=self.owner, epoch=lease.epoch)
                self._changed(source, held=False, takeover=False)
            else:
                self._held[source] = renewed
        rows = {row.source: row for row in await self._store.leases()}
        counts = dict.fromkeys(live, 0)
        for row in rows.values():
            if row.expires_at > now and row.owner in counts:
                counts[row.owner] += 1
        counts[self.owner] = len(self._held)
        total, instances = len(self.sources), max(len(counts), 1)
        low, high = total // instances, math.ceil(total / instances)
        starved = any(n < low for name, n in counts.items() if name != self.owner)
        mine = len(self._held)
        keep = low if starved else high
        if mine > keep:
            await self._give_back(mine - keep, now)
        elif mine < high and not (starved and mine >= low):
            await self._take(low if starved else high, rows, now)

    async def _give_back(self, surplus: int, now: datetime) -> None:
        idle = [s for s in reversed(self.sources) if s in self._held and s not in self._busy]
        for source in idle[:surplus]:
            lease = self._held.pop(source)
            await self._store.release_lease(lease, now)
            log.info("lease.given_back", source=source, owner=self.owner, epoch=lease.epoch)
            self._changed(source, held=False, takeover=False)

    async def _take(self, upto: int, rows: dict[str, Lease], now: datetime) -> None:
        for source in self.sources:
            if len(self._held) >= upto:
                return
            if source not in self._held:
                await self._take_one(source, rows.get(source), now)

    async def _take_one(self, source: str, row: Lease | None, now: datetime) -> None:
        dead = row is not None and dead_local_process(row.owner)
        mine = row is not None and row.owner == self.owner  # this instance, restarted
        if row is not None and row.expires_at > now and not dead and not mine:
            return
        lease = await self._store.acquire_lease(
            source, self.owner, now, self.ttl,
            replacing=row.owner if row is not None and dead else None,
        )
        if lease is None:
            return
        self._held[source] = lease
        takeover = row is not None and row.owner != self.owner
        if takeover:
            self.takeovers += 1
        log.info("lease.taken", source=source, owner=self.owner, epoch=lease.epoch,
                 previous_owner=None if row is None else row.owner)
        self._changed(source, held=True, takeover=takeover)

    async def release_all(self) -> None:
        """Give every lease back and say this instance stopped (a clean shutdown)."""
        now = self._clock.now()
        try:
            for source, lease in list(self._held.items()):
                await self._store.release_lease(lease, now)
                self._changed(source, held=False, takeover=False)
            await self._store.leave(self.owner, now)
        except StoreError as exc:
            log.error("lease.release_failed", owner=self.owner, error=str(exc))
        self._held.clear()

    def _changed(self, source: str, *, held: bool, takeover: bool) -> None:
        if self._on_change is not None:
            self._on_change(source, held, takeover)
