"""Reading Kandji's fleet-wide feeds: Prism tables and the audit feed.

:func:`iter_prism` pages one Prism category (``GET /api/v1/prism/{category}``) by its
opaque cursor, 300 rows a page, optionally only the rows updated since a moment (the
documented ``filter`` on ``updated_at``), of some blueprints or device families.
:func:`read_audit_events` reads the audit feed (``GET /api/v1/audit/events``) oldest
first from where the last read stopped, so a sweep can tell whether blueprints or
library items changed (:func:`touches_assignments`) before listing them again.

Cursors are taken from the answer (Prism's ``cursor``, the ``cursor`` parameter of the
audit feed's ``next`` link) and sent back to the configured host as a parameter: a link
is never followed as such, so a token never travels elsewhere. Bodies that are not the
documented envelope, and rows without the keys a reader needs, are a
:class:`~monitor.errors.MalformedResponseError`: what could not be read is held.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar

import yarl
from pydantic import BaseModel, ConfigDict, ValidationError

from monitor.sources.http import ApiClient

PRISM: Final = "/api/v1/prism/{category}"
AUDIT_EVENTS: Final = "/api/v1/audit/events"

PRISM_CATEGORIES: Final = frozenset(
    {
        "activation_lock",
        "application_firewall",
        "apps",
        "device_information",
        "filevault",
        "gatekeeper_and_xprotect",
    }
)
"""The categories compliance rules read (Prism has more; these are the ones used)."""

PRISM_PAGE: Final = 300
AUDIT_PAGE: Final = 500
MAX_PAGES: Final = 10_000
MAX_CURSOR: Final = 512

ASSIGNMENT_TARGETS: Final = frozenset({"blueprint", "library_item"})
"""Audit targets whose changes alter which library items devices carry."""


class PrismRow(BaseModel):
    """One Prism row: the device it is about, when it was updated, and its columns
    (kept as extra fields, since every category has its own)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    device_id: str
    updated_at: datetime | None = None

    @property
    def columns(self) -> dict[str, Any]:
        """Every column of the row, the device block included."""
        return {**(self.model_extra or {}), "device_id": self.device_id}


class AuditEvent(BaseModel):
    """One audit feed entry (the fields a sweep reads; the rest is ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    occurred_at: datetime
    action: str
    target_type: str
    target_id: str
    target_component: str = ""


Row = TypeVar("Row", bound=BaseModel)


async def iter_prism(
    api: ApiClient,
    category: str,
    *,
    updated_since: datetime | None = None,
    blueprint_ids: Sequence[str] = (),
    device_families: Sequence[str] = (),
    page_size: int = PRISM_PAGE,
) -> AsyncIterator[list[PrismRow]]:
    """Yield the rows of one Prism category, a page at a time (see the module doc)."""
    if category not in PRISM_CATEGORIES:
        raise ValueError(f"unknown Prism category {category!r}")
    params: dict[str, str | int | float] = {"limit": min(page_size, PRISM_PAGE)}
    if updated_since is not None:
        params["filter"] = json.dumps(
            {"updated_at": {"gte": updated_since.isoformat()}}, separators=(",", ":")
        )
    if blueprint_ids:
        params["blueprint_ids"] = ",".join(blueprint_ids)
    if device_families:
        params["device_families"] = ",".join(device_families)
    path = {"category": category}
    for _ in range(MAX_PAGES):
        body = await api.get_json(PRISM, path_params=path, params=params)
        rows = _page_rows(
            api, PRISM, body, "data", PrismRow,
            ("the answer is not a Prism page", "a row without its device_id"),
        )
        if rows:
            yield rows
        cursor = body.get("cursor")
        if not rows or cursor is None or cursor == "":
            return
        if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR:
            raise api.malformed(PRISM, "an unusable cursor")
        params = {"limit": params["limit"], "cursor": cursor}
    raise api.malformed(PRISM, f"the table did not end after {MAX_PAGES} pages")


def _page_rows(
    api: ApiClient,
    endpoint: str,
    body: Any,
    key: str,
    model: type[Row],
    refusals: tuple[str, str],
) -> list[Row]:
    """The rows of a feed page (``body[key]``) as ``model``; MalformedResponseError with
    ``refusals[0]`` when the body is not a page, ``refusals[1]`` when a row does not fit."""
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise api.malformed(endpoint, refusals[0])
    try:
        return [model.model_validate(row) for row in body[key]]
    except ValidationError:
        raise api.malformed(endpoint, refusals[1]) from None


def _next_cursor(api: ApiClient, link: Any) -> str | None:
    if link is None:
        return None
    if not isinstance(link, str) or len(link) > 4096:
        raise api.malformed(AUDIT_EVENTS, "an unusable next link")
    cursor = yarl.URL(link).query.get("cursor")
    if not cursor or len(cursor) > MAX_CURSOR:
        raise api.malformed(AUDIT_EVENTS, "a next link without a cursor")
    return cursor


async def read_audit_events(
    api: ApiClient, *, after: AuditEvent | None = None, start: datetime | None = None
) -> list[AuditEvent]:
    """The feed's events after ``after`` (from ``start`` when there is none yet),
    oldest first."""
    since = after.occurred_at if after is not None else start
    params: dict[str, str | int | float] = {"limit": AUDIT_PAGE, "sort_by": "occurred_at"}
    if since is not None:
        params["start_date"] = since.isoformat()
    events: list[AuditEvent] = []
    for _ in range(MAX_PAGES):
        body = await api.get_json(AUDIT_EVENTS, params=params)
        page = _page_rows(
            api, AUDIT_EVENTS, body, "results", AuditEvent,
            ("the answer is not an audit page", "an event without its id, time or target"),
        )
        events.extend(e for e in page if after is None or e.id > after.id)
        cursor = _next_cursor(api, body.get("next"))
        if cursor is None or not page:
            return events
        params = {"limit": AUDIT_PAGE, "sort_by": "occurred_at", "cursor": cursor}
    raise api.malformed(AUDIT_EVENTS, f"the feed did not end after {MAX_PAGES} pages")


def touches_assignments(events: Iterable[AuditEvent]) -> bool:
    """Whether any event changed blueprints or library items (so the lists of items per
    blueprint must be read again)."""
    return any(e.target_type in ASSIGNMENT_TARGETS for e in events)
