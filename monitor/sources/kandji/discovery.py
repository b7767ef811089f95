"""Which library items each blueprint assigns, read again only when the tenant says so.

A planned sweep reads library items fleet-wide, item by item, so it must know the items
every blueprint assigns: ``GET /blueprints`` and one ``list-library-items`` per
blueprint (*discovery*). Those lists change only when an administrator edits a
blueprint or a library item, and every such edit lands in the tenant's audit feed
(``GET /audit/events``). So :class:`Rediscovery` keeps the last discovery and, each
sweep, reads the feed from where it stopped (one request when nothing happened) and
lists blueprints again only when:

- nothing was discovered yet, or the last discovery was incomplete (a list failed);
- the feed shows an event on a blueprint or a library item
  (:func:`~monitor.sources.kandji.feeds.touches_assignments`);
- the feed could not be read (a token without the audit permission, an outage): then
  every sweep lists blueprints again, as if there were no feed;
- ``every`` seconds passed since the last discovery (a slow safety cadence, for edits
  the feed might not show).

The feed is read before the lists, so an edit made while they are read is seen again
in the next sweep's feed (one more discovery, never one missed).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from monitor.clock import Clock
from monitor.errors import SourceError
from monitor.sources.kandji.client import KandjiClient
from monitor.sources.kandji.feeds import AuditEvent, read_audit_events, touches_assignments
from monitor.sources.kandji.planner import stable_hash

log = structlog.get_logger(__name__)

AUDIT_LOOKBACK = timedelta(minutes=10)
"""How far before its first read the feed is read from (clock skew between the monitor
and the tenant); events seen then only set where the next read starts."""

DEFAULT_EVERY = 6 * 3600.0
"""The safety cadence: blueprints are listed again at least this often (seconds)."""

Pool = Callable[[Iterable[Awaitable[None]]], Awaitable[None]]
Fail = Callable[[str, Exception], None]


@dataclass
class Discovery:
    """What discovery learnt: listed blueprints, their readable item lists, item names.

    ``items`` is None when the blueprint list could not be read; a blueprint whose own
    list failed is listed but absent from ``items``.
    """

    listed: frozenset[str] = frozenset()
    items: dict[str, tuple[str, ...]] | None = None
    names: dict[str, str] = field(default_factory=dict)
    signatures: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Whether every listed blueprint's item list was read."""
        return self.items is not None and len(self.items) == len(self.listed)


class Rediscovery:
    """Keeps one tenant's discovery and decides when to read it again (module doc).

    ``feed=False`` lists blueprints every sweep without reading the feed (the sweep as
    it was before the feed was used; benchmarks compare the two).

    ``discoveries`` counts the discoveries made and ``last_reason`` says why the last
    sweep made one (empty when it reused the last one): for logs and tests.
    """

    def __init__(self, clock: Clock, every: float = DEFAULT_EVERY, *, feed: bool = True) -> None:
        if every <= 0:
            raise ValueError("the safety cadence must be positive")
        self.clock = clock
        self.every = every
        self.feed = feed
        self.found: Discovery | None = None
        self.found_at = 0.0
        self.discoveries = 0
        self.last_reason = ""
        self._after: AuditEvent | None = None
        self._start: datetime | None = None
        self._feed_failed = False

    async def current(self, client: KandjiClient, pool: Pool, fail: Fail) -> Discovery:
        """The discovery this sweep plans with: the last one, or a fresh one when due."""
        reason = await self._due(client)
        self.last_reason = reason
        if not reason and self.found is not None:
            return self.found
        found = await discover(client, pool, fail)
        self.discoveries += 1
        self.found, self.found_at = found, self.clock.monotonic()
        log.info(
            "kandji.discovered",
            source=client.name,
            reason=reason,
            blueprints=len(found.listed),
            complete=found.complete,
        )
        return found

    async def _due(self, client: KandjiClient) -> str:
        """Why discovery must run now ("" when the last one stands); reads the feed."""
        if not self.feed:
            return "every sweep (no audit feed)"
        if self._start is None:
            self._start = self.clock.now() - AUDIT_LOOKBACK
        try:
            events = await read_audit_events(client.api, after=self._after, start=self._start)
        except SourceError as exc:
            if not self._feed_failed:
                log.warning(
                    "kandji.audit_feed_unreadable",
                    source=client.name,
                    error=str(exc),
                    hint="blueprints are listed again every sweep until the feed answers",
                )
            self._feed_failed = True
            return "the audit feed could not be read"
        if self._feed_failed:
            log.info("kandji.audit_feed_readable", source=client.name)
            self._feed_failed = False
        if events:
            self._after = events[-1]
        if self.found is None:
            return "first sweep"
        if not self.found.complete:
            return "the last discovery was incomplete"
        if touches_assignments(events):
            return "the audit feed shows a blueprint or library item change"
        if self.clock.monotonic() - self.found_at >= self.every:
            return "safety cadence"
        return ""


async def discover(client: KandjiClient, pool: Pool, fail: Fail) -> Discovery:
    """``GET /blueprints`` and each blueprint's item list (failures noted with ``fail``)."""
    found = Discovery()
    try:
        blueprints = await client.list_blueprints()
    except SourceError as exc:
        fail("list blueprints", exc)
        return found
    found.listed = frozenset(bp.id for bp in blueprints if bp.id)
    found.signatures = {bp.id: stable_hash(*sorted(bp.params)) for bp in blueprints}
    lists: dict[str, tuple[str, ...]] = {}

    async def one(bp_id: str) -> None:
        try:
            refs = await client.list_blueprint_library_items(bp_id)
        except SourceError as exc:
            fail(f"blueprint {bp_id} library items", exc)
            return
        lists[bp_id] = tuple(r.id for r in refs if r.id)
        for r in refs:
            found.names[r.id] = r.name

    await pool(one(bp_id) for bp_id in sorted(found.listed))
    found.items = lists
    return found


__all__ = ["AUDIT_LOOKBACK", "DEFAULT_EVERY", "Discovery", "Rediscovery", "discover"]
