"""Fault injection for the simulated vendor APIs.

A :class:`Fault` rule matches requests by path (a regular expression) and method and
replaces or disturbs their answer (:class:`FaultKind`): ``429`` with or without
``Retry-After``, ``500``/``502``/``503``, slow, timeout, a connection reset before or in
the middle of the body, truncated or garbled JSON, HTML pages where JSON was expected,
mutations of the real body (a field missing, ``null`` where an object was, an
undocumented status value), or a change of the tenant's records before the answer
(pages that shift). :func:`apply_fault` is what the fault middleware of
:class:`~monitor.simulator.http.HttpSimulator` runs for a matching request.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler

FAULT_KEY: Final = web.RequestKey("simulator_fault", str)
"""Where the fault middleware notes the fault it applied to a request."""

# Django's default page for an unknown URL, as the vendor docs show it (API-NOTES §2.3).
HTML_NOT_FOUND: Final = (
    '\n<!doctype html><html lang="en"><head><title>Not Found</title></head><body>'
    "<h1>Not Found</h1><p>The requested resource was not found on this server.</p>"
    "</body></html>\n"
)
HTML_SERVER_ERROR: Final = (
    '\n<!doctype html><html lang="en"><head><title>Server Error (500)</title></head>'
    "<body><h1>Server Error (500)</h1><p></p></body></html>\n"
)


class FaultKind(StrEnum):
    """What a fault rule does to a matching request."""

    RATE_LIMITED = "429"
    SERVER_ERROR = "500"
    BAD_GATEWAY = "502"
    UNAVAILABLE = "503"
    SLOW = "slow"  # answer normally after ``delay`` seconds
    TIMEOUT = "timeout"  # hold the request ``delay`` seconds (default 60), then answer
    RESET = "reset"  # drop the connection without answering
    MALFORMED = "malformed"  # 200 with the real body cut in half (invalid JSON)
    HTML = "html"  # 404 with Django's HTML page instead of JSON
    RATE_LIMITED_BARE = "429-bare"  # 429 with neither Retry-After nor RateLimit-* headers
    RESET_MID_BODY = "reset-body"  # status, headers and half the body, then a reset
    GARBLED = "garbled"  # 200, a JSON content type and bytes that are not JSON
    HTML_OK = "html-200"  # 200 with an HTML page (a proxy's or a login page) instead of JSON
    FIELD_MISSING = "field-missing"  # the real body with a key removed
    NULL_OBJECT = "null-object"  # the real body with an object (or a list's object) as null
    NEW_ENUM = "new-enum"  # the real body with a status changed to an undocumented value
    SHIFT = "shift"  # records added and removed before the answer (offset pages shift)


BODY_MUTATIONS: Final = frozenset(
    {FaultKind.FIELD_MISSING, FaultKind.NULL_OBJECT, FaultKind.NEW_ENUM}
)
"""Fault kinds that answer the real response with its JSON body altered."""

UNDOCUMENTED_STATUS: Final = "QUARANTINED"
"""The value :attr:`FaultKind.NEW_ENUM` writes unless a rule names another."""

HTML_PROXY_PAGE: Final = (
    "<!DOCTYPE html><html><head><title>Sign in</title></head><body>"
    "<h1>Session expired</h1><p>Please sign in again.</p></body></html>\n"
)


@dataclass(slots=True)
class Fault:
    """One fault-injection rule.

    ``path`` is a regular expression searched in the request path (``"/status$"``,
    ``"^/api/v1/devices$"``). ``method`` restricts it to one HTTP method. Each match
    fires with ``probability`` (drawn from the simulator's seeded generator), at most
    ``count`` times when ``count`` is set. ``fired`` counts how often it did. The first
    ``after`` matching requests pass untouched (a burst that starts mid-sweep).

    Body mutations (:data:`BODY_MUTATIONS`) act on ``key``: every object of the body
    holding that key loses it (``field-missing``), has its object or list there replaced
    by ``null`` (``null-object``), or has its value replaced by ``value``
    (``new-enum``; ``key`` defaults to ``status``). Without a ``key``, one place of the
    body, chosen with the seeded generator, is altered. ``shift`` changes the tenant's
    records (the vendor simulator says how) before the request is answered.
    """

    path: str
    kind: FaultKind
    probability: float = 1.0
    count: int | None = None
    method: str | None = None
    delay: float = 0.0
    retry_after: int = 1
    fired: int = 0
    _pattern: re.Pattern[str] = field(init=False, repr=False)
    key: str | None = None
    value: str = UNDOCUMENTED_STATUS
    after: int = 0
    seen: int = 0

    def __post_init__(self) -> None:
        self.kind = FaultKind(self.kind)
        self._pattern = re.compile(self.path)

    @property
    def exhausted(self) -> bool:
        """Whether the rule has fired ``count`` times already."""
        return self.count is not None and self.fired >= self.count

    def matches(self, method: str, path: str) -> bool:
        """Whether the rule applies to a request (ignoring probability and count)."""
        if self.method is not None and self.method.upper() != method:
            return False
        return self._pattern.search(path) is not None


class FaultInjector:
    """The ordered fault rules of a simulator; the first live match wins."""

    def __init__(self, seed: int = 0) -> None:
        self.rules: list[Fault] = []
        self._rng = random.Random(f"faults:{seed}")

    def add(self, fault: Fault) -> Fault:
        """Append a rule and return it (so a test can read ``fired`` later)."""
        self.rules.append(fault)
        return fault

    def clear(self) -> None:
        """Drop every rule."""
        self.rules.clear()

    def pick(self, method: str, path: str) -> Fault | None:
        """The rule to apply to this request, if any; counts it as fired."""
        for rule in self.rules:
            if rule.exhausted or not rule.matches(method, path):
                continue
            rule.seen += 1
            if rule.seen <= rule.after:
                continue
            if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                continue
            rule.fired += 1
            return rule
        return None


async def apply_fault(
    fault: Fault,
    request: web.Request,
    handler: Handler,
    *,
    shift: Callable[[web.Request], object],
    mutate: Callable[[Fault, Any], Any],
) -> web.StreamResponse:
    """The answer to ``request`` under ``fault``: ``handler``'s, replaced or disturbed.

    ``shift`` changes the tenant's records (``shift`` faults); ``mutate`` alters a decoded
    body (body mutations).
    """
    kind = fault.kind
    if kind is FaultKind.RATE_LIMITED:
        return web.json_response(
            {"message": "API rate limit exceeded"},
            status=429,
            headers={"Retry-After": str(fault.retry_after)},
        )
    if kind is FaultKind.RATE_LIMITED_BARE:
        return web.json_response({"message": "API rate limit exceeded"}, status=429)
    if kind is FaultKind.HTML_OK:
        return web.Response(text=HTML_PROXY_PAGE, status=200, content_type="text/html")
    if kind is FaultKind.SHIFT:
        shift(request)
        return await handler(request)
    if kind is FaultKind.RESET_MID_BODY:
        return await _reset_mid_body(request, handler)
    if kind in BODY_MUTATIONS:
        return await _mutated(fault, request, handler, mutate)
    if kind is FaultKind.GARBLED:
        response = await handler(request)
        payload = response.body if isinstance(response, web.Response) else None
        raw = payload if isinstance(payload, bytes) else b"{}"
        # Complete, but not JSON: a stray quote style, a trailing comma, a bad byte.
        garbled = raw.replace(b'"', b"'", 2) + b",\xff"
        return web.Response(
            body=garbled, status=response.status, content_type="application/json"
        )
    if kind is FaultKind.SERVER_ERROR:
        return web.Response(text=HTML_SERVER_ERROR, status=500, content_type="text/html")
    if kind is FaultKind.BAD_GATEWAY:
        return web.json_response(
            {"message": "An invalid response was received from the upstream server"},
            status=502,
        )
    if kind is FaultKind.UNAVAILABLE:
        return web.json_response(
            {"message": "The upstream server is currently unavailable"}, status=503
        )
    if kind is FaultKind.HTML:
        return web.Response(text=HTML_NOT_FOUND, status=404, content_type="text/html")
    if kind in (FaultKind.SLOW, FaultKind.TIMEOUT):
        await asyncio.sleep(fault.delay or (60.0 if kind is FaultKind.TIMEOUT else 1.0))
        return await handler(request)
    if kind is FaultKind.RESET:
        if request.transport is not None:
            request.transport.abort()
        # Nothing can be written any more; this ends the handler quietly.
        raise asyncio.CancelledError
    # MALFORMED: the real answer, cut in half.
    response = await handler(request)
    payload = response.body if isinstance(response, web.Response) else None
    raw = payload if isinstance(payload, bytes) else b'{"detail": "'
    return web.Response(
        body=raw[: max(1, len(raw) // 2)],
        status=response.status,
        content_type="application/json",
    )


async def _mutated(
    fault: Fault,
    request: web.Request,
    handler: Handler,
    mutate: Callable[[Fault, Any], Any],
) -> web.StreamResponse:
    response = await handler(request)
    payload = response.body if isinstance(response, web.Response) else None
    if not isinstance(payload, bytes) or response.content_type != "application/json":
        return response
    try:
        body = json.loads(payload)
    except ValueError:
        return response
    return web.json_response(
        mutate(fault, body), status=response.status, headers=_kept(response)
    )


async def _reset_mid_body(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Send the real status, headers and half the body, then drop the connection."""
    response = await handler(request)
    payload = response.body if isinstance(response, web.Response) else None
    raw = payload if isinstance(payload, bytes) else b'{"detail": "Not found."}'
    stream = web.StreamResponse(status=response.status, headers=_kept(response))
    stream.content_type = response.content_type or "application/json"
    stream.content_length = len(raw)
    await stream.prepare(request)
    await stream.write(raw[: max(1, len(raw) // 2)])
    transport = request.transport
    if transport is not None:
        # close() sends what is buffered (headers and the first half) and then the
        # FIN: the client sees a body shorter than its Content-Length.
        transport.close()
    raise asyncio.CancelledError


def _kept(response: web.StreamResponse) -> dict[str, str]:
    """The headers of ``response`` worth carrying over to a replacement answer."""
    dropped = {"content-length", "content-type", "content-encoding", "transfer-encoding"}
    return {k: v for k, v in response.headers.items() if k.lower() not in dropped}


# --- body mutations ---------------------------------------------------------------------

_Place = tuple[Any, Any]  # (container, key or index)


def _places(node: Any, out: list[_Place]) -> None:
    """Every (container, key) of a JSON value, depth first."""
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((node, k))
            _places(v, out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.append((node, i))
            _places(v, out)


def mutate_json(
    body: Any, kind: FaultKind, key: str | None, value: str, rng: random.Random
) -> Any:
    """A copy of ``body`` altered by a body-mutation fault (see :class:`Fault`).

    ``field-missing`` removes ``key`` from every object holding it (without ``key``:
    one key of one object). ``null-object`` replaces every object or list found under
    ``key`` with ``null`` (without ``key``: one object, possibly a list element).
    ``new-enum`` replaces every string under ``key`` (default ``status``) with
    ``value`` (without an explicit ``key``: one of them). A body with nothing to alter
    comes back unchanged.
    """
    copy = json.loads(json.dumps(body))
    places: list[_Place] = []
    _places(copy, places)
    if kind is FaultKind.FIELD_MISSING:
        hits = [(c, k) for c, k in places if isinstance(c, dict) and (key is None or k == key)]
        if key is None and hits:
            hits = [rng.choice(hits)]
        for container, k in hits:
            container.pop(k, None)
    elif kind is FaultKind.NULL_OBJECT:
        hits = [
            (c, k)
            for c, k in places
            if isinstance(c[k], dict | list)
            and (k == key if key is not None else isinstance(c[k], dict))
        ]
        if key is None and hits:
            hits = [rng.choice(hits)]
        for container, k in hits:
            container[k] = None
    elif kind is FaultKind.NEW_ENUM:
        wanted = key or "status"
        hits = [
            (c, k)
            for c, k in places
            if isinstance(c, dict) and k == wanted and isinstance(c[k], str) and c[k] != value
        ]
        if key is None and hits:
            hits = [rng.choice(hits)]
        for container, k in hits:
            container[k] = value
    else:
        raise ValueError(f"{kind} is not a body mutation")
    return copy
