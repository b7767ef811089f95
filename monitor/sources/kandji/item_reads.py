"""One library item read fleet-wide: every status page, only the rows a rule could match.

A 100,000-device fleet answers millions of status rows a sweep, and only the few whose
status an enabled rule looks at (``ERROR``, ``failed``...) matter. So rows are looked at
as the answer's objects first (the seam checked each has a ``status`` and a
``computer.id``): a row with a documented status the :class:`SubjectFilter` rejects is
dropped without being parsed; the rest (kept rows, and any row whose status or type
is not a plain documented value) are parsed into :class:`KLibraryItemStatusRow` and
decided as before, so findings are the same either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from monitor.errors import SourceError
from monitor.models import Subject, SubjectKind
from monitor.sources.kandji.api import LIBRARY_ITEM_STATUS
from monitor.sources.kandji.client import KandjiClient
from monitor.sources.kandji.mapping import library_item_status_row_subject
from monitor.sources.kandji.models import KNOWN_LIBRARY_ITEM_STATUSES, KLibraryItemStatusRow
from monitor.sources.kandji.outcome import Run
from monitor.sources.kandji.planner import ItemRead, PlannerState, SubjectFilter


async def read_item(
    client: KandjiClient, state: PlannerState, keep: SubjectFilter, run: Run, item: ItemRead
) -> None:
    """Every status page of one item; its rows count only if every page arrived."""
    size = client.page_size
    kept: list[tuple[str, Subject]] = []
    page = client.library_item_status_page
    try:
        rows, count = await page(item.item_id, 0)
        take_rows(client, run, state, keep, item, rows, kept)
        if count is not None:
            await _each_page(
                [page(item.item_id, off) for off in range(size, count, size)],
                lambda rows: take_rows(client, run, state, keep, item, rows, kept),
            )
        else:
            offset = len(rows)
            while len(rows) == size:
                rows, _ = await page(item.item_id, offset)
                take_rows(client, run, state, keep, item, rows, kept)
                offset += len(rows)
    except SourceError as exc:
        # A 404 too: a blueprint listed the item moments ago, so "not found" is an
        # answer we cannot trust (a gateway's HTML 404, an item deleted in between).
        # Its devices stay unobserved this sweep; if it was deleted, the next
        # discovery no longer lists it and its alerts resolve from fresh data.
        run.fail(f"library item {item.item_id} status", exc)
        return
    for did, subject in kept:
        run.library.setdefault(did, []).append(subject)
    run.items_read.add(item.item_id)
    state.item_last_read[item.item_id] = run.sweep
    state.item_read_at[item.item_id] = run.started
    state.item_rows[item.item_id] = tuple(kept)
    if kept:
        state.unhealthy_items.add(item.item_id)
    else:
        state.unhealthy_items.discard(item.item_id)


async def _each_page(
    asked: list[Awaitable[tuple[list[dict[str, Any]], int | None]]],
    take: Callable[[list[dict[str, Any]]], None],
) -> None:
    """Ask for every page at once (the budget paces them) and ``take`` each answer's rows
    as soon as it and the pages before it are in, in page order, dropping it then: an
    item of 100,000 devices answers 300 pages, which are never all held at once.

    The first unusable page (or row) raises, after every page asked for has been
    answered (as a read of all pages that then looks at them would); a cancelled read
    cancels the pages still in flight."""
    tasks = [asyncio.ensure_future(a) for a in asked]
    try:
        for task in tasks:
            rows, _ = await task
            take(rows)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        raise
    finally:
        # Every answer retrieved (a failed page's too), none left running.
        await asyncio.gather(*tasks, return_exceptions=True)


def take_rows(
    client: KandjiClient,
    run: Run,
    state: PlannerState,
    keep: SubjectFilter,
    item: ItemRead,
    rows: list[dict[str, Any]],
    kept: list[tuple[str, Subject]],
) -> None:
    """Keep the rows an enabled rule could match, as subjects of their devices (a row
    that is parsed and does not fit its model makes the page unusable)."""
    item_type = state.item_types.get(item.item_id)
    devices, due = run.devices, run.status_due
    # keep() asked once per (status, type) (a page has a few statuses and hundreds of
    # rows).
    wanted: dict[tuple[str, str], bool] = {}
    for raw in rows:
        status = raw["status"]
        did = raw["computer"]["id"]
        row_type = raw.get("type")  # an EDR item's rows name their type
        plain = (
            isinstance(status, str)
            and isinstance(did, str)
            and status in KNOWN_LIBRARY_ITEM_STATUSES
            and (row_type is None or isinstance(row_type, str))
        )
        if plain:
            if did not in devices or did in due:
                continue
            type_ = row_type or item_type
            if type_ is None:
                run.untyped.add(did)
                continue
            keeps = wanted.get((status, type_))
            if keeps is None:
                keeps = wanted[status, type_] = keep(SubjectKind.LIBRARY_ITEM, status, type_)
            if not keeps:
                continue
        row = client.parse(KLibraryItemStatusRow, raw, LIBRARY_ITEM_STATUS)
        _take_parsed(run, keep, item, item_type, row, kept)


def _take_parsed(
    run: Run,
    keep: SubjectFilter,
    item: ItemRead,
    item_type: str | None,
    row: KLibraryItemStatusRow,
    kept: list[tuple[str, Subject]],
) -> None:
    did = row.device_id
    if did not in run.devices or did in run.status_due:
        return
    type_ = row.type or item_type
    if type_ is None:
        # An item its group did not show (assigned since the probe): its type is
        # unknown, so its subject would differ from the per-device one.
        run.untyped.add(did)
        return
    if not keep(SubjectKind.LIBRARY_ITEM, row.status, type_):
        return
    subject = library_item_status_row_subject(
        row, item_id=item.item_id, item_name=item.name, item_type=item_type or ""
    )
    kept.append((did, subject))


__all__ = ["read_item", "take_rows"]
