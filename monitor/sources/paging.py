"""Paging over ``limit``/``offset`` endpoints, mixed into :class:`~monitor.sources.http.ApiClient`.

:meth:`Paging.iter_pages` handles a bare JSON list (stop on a short or empty page) and
Django REST Framework pages ``{count, next, previous, results}`` (optionally nested one
key down). Each page is one :meth:`get_json`, so it gets the retry policy and the
source's body checks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from monitor.errors import MalformedResponseError

MAX_PAGE_SIZE = 300
"""The largest ``limit`` any paged call sends (Kandji's cap)."""

Params = Mapping[str, str | int | float]
PageShape = Literal["auto", "list", "drf"]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a paged endpoint: its items, where it started, the total if known."""

    items: list[Any]
    offset: int
    count: int | None = None


class Paging:
    """The paging helpers; the class they are mixed into provides :meth:`get_json`."""

    source: str
    #: ``get_json(endpoint, *, path_params=None, params=None)``: the decoded JSON body.
    get_json: Callable[..., Awaitable[Any]]
    #: ``malformed(endpoint, what)``: the error for an unusable answer.
    malformed: Callable[[str, str], MalformedResponseError]

    async def iter_pages(
        self,
        endpoint: str,
        *,
        path_params: Mapping[str, str] | None = None,
        params: Params | None = None,
        limit: int = MAX_PAGE_SIZE,
        shape: PageShape = "auto",
        nested_key: str | None = None,
        max_pages: int = 100_000,
    ) -> AsyncIterator[Page]:
        """Yield the pages of a ``limit``/``offset`` endpoint until its end.

        ``shape`` ``list``: the body is a bare JSON list; the end is a page shorter than
        ``limit`` (or empty). ``drf``: the body is ``{count, next, previous, results}``
        (under ``nested_key`` when given); the end is ``next: null``, an empty page or
        ``count`` reached. ``auto`` accepts either, page by page. The next offset is
        always computed (``offset + len(items)``), never taken from the ``next`` URL,
        which names the API's public host rather than the one configured.
        """
        limit = max(1, min(limit, MAX_PAGE_SIZE))
        offset = int((params or {}).get("offset", 0))
        for _ in range(max_pages):
            query: dict[str, str | int | float] = {**(params or {})}
            query.update(limit=limit, offset=offset)
            body = await self.get_json(endpoint, path_params=path_params, params=query)
            items, count, has_next = self._page_parts(endpoint, body, shape, nested_key)
            yield Page(items=items, offset=offset, count=count)
            offset += len(items)
            if not items or has_next is False:
                return
            if has_next is None and len(items) < limit:
                return
            if count is not None and offset >= count:
                return
        raise MalformedResponseError(
            f"{self.source}: GET {endpoint} did not end after {max_pages} pages",
            source=self.source,
            endpoint=endpoint,
        )

    def _page_parts(
        self, endpoint: str, body: Any, shape: PageShape, nested_key: str | None
    ) -> tuple[list[Any], int | None, bool | None]:
        """(items, count, has_next); has_next None means "decide by the page's length"."""
        if nested_key is not None and isinstance(body, dict):
            body = body.get(nested_key)
        if isinstance(body, list) and shape in ("auto", "list"):
            return body, None, None
        if isinstance(body, dict) and shape in ("auto", "drf") and "results" in body:
            results = body.get("results")
            if results is None:
                results = []
            if not isinstance(results, list):
                raise self.malformed(endpoint, "results is not a list")
            count = body.get("count")
            count = count if isinstance(count, int) and not isinstance(count, bool) else None
            return results, count, bool(body.get("next"))
        expected = {"auto": "a list or a page", "list": "a list", "drf": "a page"}[shape]
        raise self.malformed(endpoint, f"expected {expected}, got {type(body).__name__}")


__all__ = ["MAX_PAGE_SIZE", "Page", "PageShape", "Paging", "Params"]
