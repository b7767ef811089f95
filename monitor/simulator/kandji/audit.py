"""The audit feed of a simulated Kandji tenant: ``GET /api/v1/audit/events`` (API-NOTES §5.8).

The fleet records an :class:`AuditEvent` for every change an administrator or the
tenant's lifecycle makes: blueprints created, renamed or given other library items,
library items edited, devices enrolled and deleted. Events have a ULID ``id`` (time
ordered) and the documented keys; blueprint and library-item bodies follow the
documented examples, device events (``target_type`` ``device``, actions ``create`` and
``delete``) are this simulator's own guess at a shape the examples do not show.

The route takes ``limit`` (required, at most 500), ``sort_by`` (required: ``occurred_at``
or ``id``, ``-`` for newest first), ``start_date``/``end_date`` (a datetime or
``YYYY-MM-DD``) and the opaque ``cursor`` of a ``next`` or ``previous`` link. Events are
appended in time order, so a cursor naming the last event a page held stays valid
while newer events arrive.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from monitor.clock import Clock
from monitor.simulator.kandji import cursors

AUDIT_PAGE_CAP: Final = 500
MAX_EVENTS: Final = 100_000
"""Events kept; the oldest go first (the real feed keeps about a year)."""

_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_SORTS: Final = frozenset({"occurred_at", "-occurred_at", "id", "-id"})
ADMIN_ID: Final = "cf40d6e7-20cb-4da9-84a1-9ad0b7003ca5"
"""The simulated administrator every event names as its actor."""


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One entry of the audit feed."""

    id: str
    occurred_at: datetime
    action: str  # create | update | delete
    target_id: str
    target_type: str  # blueprint | library_item | device
    target_component: str
    new_state: dict[str, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    actor_id: str = ADMIN_ID
    actor_type: str = "user"

    def body(self) -> dict[str, Any]:
        """The event as the feed answers it (keys in the documented order)."""
        return {
            "id": self.id,
            "action": self.action,
            "occurred_at": self.occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "actor_id": self.actor_id,
            "actor_type": self.actor_type,
            "target_id": self.target_id,
            "target_type": self.target_type,
            "target_component": self.target_component,
            "new_state": self.new_state,
            "metadata": self.metadata,
        }


class AuditLog:
    """The tenant's events, oldest first, with time-ordered ULIDs."""

    def __init__(self, clock: Clock, seed: int = 0, max_events: int = MAX_EVENTS) -> None:
        self.clock = clock
        self.max_events = max_events
        self.events: list[AuditEvent] = []
        self._ids: list[str] = []
        self._rng = random.Random(f"audit:{seed}")
        self._last_ms = -1
        self._low = 0

    def _ulid(self, at: datetime) -> str:
        ms = max(int(at.timestamp() * 1000), self._last_ms)
        if ms == self._last_ms:
            self._low += 1  # monotonic within one millisecond
        else:
            self._low = self._rng.getrandbits(79)
        self._last_ms = ms
        value = (ms << 80) | self._low
        return "".join(_CROCKFORD[(value >> (5 * k)) & 31] for k in range(25, -1, -1))

    def record(
        self,
        action: str,
        target_type: str,
        target_id: str,
        new_state: dict[str, Any],
        *,
        component: str = "",
        metadata: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> AuditEvent:
        """Append one event (at the clock's now unless ``at`` is given) and return it."""
        when = at or self.clock.now()
        if self.events and when < self.events[-1].occurred_at:
            when = self.events[-1].occurred_at
        event = AuditEvent(
            self._ulid(when), when, action, target_id, target_type, component,
            new_state, metadata or {},
        )
        self.events.append(event)
        self._ids.append(event.id)
        if len(self.events) > self.max_events:
            drop = len(self.events) - self.max_events + self.max_events // 10
            del self.events[:drop]
            del self._ids[:drop]
        return event

    def position_after(self, event_id: str) -> int:
        """The index of the first event after ``event_id`` (ids sort by time)."""
        return bisect.bisect_right(self._ids, event_id)

    def position_of(self, event_id: str) -> int:
        """The index of the first event at or after ``event_id``."""
        return bisect.bisect_left(self._ids, event_id)


def _date(raw: str | None, end: bool) -> datetime | web.Response | None:
    if raw is None or raw == "":
        return None
    if len(raw) > 40:
        return web.json_response({"detail": "Invalid date."}, status=400)
    try:
        if len(raw) == 10:
            day = datetime.fromisoformat(raw).replace(tzinfo=UTC)
            return day.replace(hour=23, minute=59, second=59, microsecond=999_999) if end else day
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return web.json_response({"detail": "Invalid date."}, status=400)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _window(log: AuditLog, start: datetime | None, end: datetime | None) -> tuple[int, int]:
    """Indices ``[lo, hi)`` of the events between ``start`` and ``end``."""
    times = [e.occurred_at for e in log.events] if start or end else []
    lo = bisect.bisect_left(times, start) if start else 0
    hi = bisect.bisect_right(times, end) if end else len(log.events)
    return lo, hi


def feed_page(request: web.Request, log: AuditLog) -> web.Response:
    """``GET /api/v1/audit/events``: ``{"results", "previous", "next"}``."""
    q = request.query
    errors: dict[str, list[str]] = {}
    raw_limit = q.get("limit", "")
    if not raw_limit.isdigit() or len(raw_limit) > 9:
        errors["limit"] = ["This field is required." if not raw_limit else "Invalid."]
    sort_by = q.get("sort_by", "")
    if sort_by not in _SORTS:
        errors["sort_by"] = ["This field is required." if not sort_by else "Invalid."]
    if errors:
        return web.json_response(errors, status=400)
    limit = max(1, min(int(raw_limit), AUDIT_PAGE_CAP))
    start = _date(q.get("start_date"), end=False)
    end = _date(q.get("end_date"), end=True)
    if isinstance(start, web.Response):
        return start
    if isinstance(end, web.Response):
        return end
    lo, hi = _window(log, start, end)
    newest_first = sort_by.startswith("-")
    position = hi if newest_first else lo  # where the walk starts, in feed order
    cursor = q.get("cursor")
    if cursor:
        parts = cursors.decode(cursor, 2)
        if parts is None or parts[0] not in ("after", "before"):
            return web.json_response({"detail": "Invalid cursor."}, status=400)
        direction, event_id = parts
        forward = (direction == "after") != newest_first
        position = log.position_after(event_id) if forward else log.position_of(event_id)
        position = min(max(position, lo), hi)
        if direction == "before":
            # A previous link: the page that ends just before that event.
            position = min(hi, position + limit) if newest_first else max(lo, position - limit)
    if newest_first:
        chunk = log.events[max(lo, position - limit) : position][::-1]
        has_next = position - limit > lo
        has_previous = position < hi
    else:
        chunk = log.events[position : min(hi, position + limit)]
        has_next = position + limit < hi
        has_previous = position > lo
    url = request.url
    next_link = previous = None
    if chunk and has_next:
        next_link = str(url.update_query(cursor=cursors.encode("after", chunk[-1].id)))
    if chunk and has_previous:
        previous = str(url.update_query(cursor=cursors.encode("before", chunk[0].id)))
    return web.json_response(
        {"results": [e.body() for e in chunk], "previous": previous, "next": next_link}
    )
