"""Query parameters, DRF pages and the JSON 404 of the simulated Kandji API."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from monitor.simulator.http import query_int

PAGE_CAP: Final = 300
"""The documented maximum ``limit`` (larger values are clamped, API-NOTES §6.4)."""

_NOT_FOUND: Final = {"detail": "Not found."}


def not_found() -> web.Response:
    return web.json_response(_NOT_FOUND, status=404)


def int_param(request: web.Request, name: str) -> int | None:
    """A positive integer query parameter; absent or invalid values are ignored, as
    Django REST Framework's limit/offset pagination does."""
    return query_int(request, name, minimum=0)


def limit_offset(request: web.Request) -> tuple[int, int]:
    limit = int_param(request, "limit")
    limit = PAGE_CAP if not limit else min(limit, PAGE_CAP)
    return limit, int_param(request, "offset") or 0


def drf_page(
    request: web.Request, count: int, results: list[Any], limit: int, offset: int
) -> dict[str, Any]:
    """A DRF limit/offset page with absolute ``next``/``previous`` links."""
    url = request.url
    next_link = None
    if offset + limit < count:
        next_link = str(url.update_query(limit=limit, offset=offset + limit))
    previous = None
    if offset > 0:
        if offset - limit <= 0:
            query = {k: v for k, v in url.query.items() if k != "offset"}
            previous = str(url.with_query(query).update_query(limit=limit))
        else:
            previous = str(url.update_query(limit=limit, offset=offset - limit))
    return {"count": count, "next": next_link, "previous": previous, "results": results}
