"""Machinery shared by the simulated vendor APIs: request log, rate limits, faults, latency.

A simulated API is an ``aiohttp.web.Application`` whose middlewares come from
:meth:`HttpSimulator.middlewares`, outermost first:

1. **record**: every request lands in :attr:`HttpSimulator.requests` (method, route
   template, query, status, JSON body of writes, the fault applied), whatever answered it;
2. **authenticate**: the vendor's check (a callable returning an error response or None);
3. **rate limit**: per-second and per-hour windows on the simulator's clock, Kong-style
   headers on every answer, ``429`` with ``Retry-After`` when a window is spent;
4. **faults**: the first matching :class:`Fault` rule, if any, replaces or disturbs the
   answer: ``429`` with or without ``Retry-After``, ``500``/``502``/``503``, slow,
   timeout, a connection reset before or in the middle of the body, truncated or
   garbled JSON, HTML pages where JSON was expected, and mutations of the real body (a
   field missing, ``null`` where an object was, an undocumented status value), or a
   change of the tenant's records before the answer (pages that shift);
5. **latency**: a fixed delay plus jitter before the handler runs.

Rate-limit windows use the injected clock, so a test on a :class:`~monitor.clock.FakeClock`
sees a window reset only when it moves time. Latency, slow and timeout faults are real
server delays (``asyncio.sleep``): a client under test must experience them.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from monitor.clock import Clock

WRITE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
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


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the simulator saw it.

    ``route`` is the aiohttp route template (``/api/v1/devices/{device_id}/status``) or
    the raw path when no route matched; ``body`` is the parsed JSON of a write (or its
    text when it is not JSON, None for reads); ``fault`` is the fault kind applied; a
    ``status`` of 0 means the connection was dropped or the request cancelled.
    """

    seq: int
    at: datetime
    method: str
    path: str
    route: str
    query: dict[str, str]
    status: int
    body: Any
    fault: str | None


class RequestLog:
    """Every request served, newest last, plus counters per ``"METHOD route"``."""

    def __init__(self, max_records: int = 100_000) -> None:
        self.records: deque[RequestRecord] = deque(maxlen=max_records)
        self.counts: Counter[str] = Counter()
        self.status_counts: Counter[int] = Counter()
        self._seq = 0

    def add(self, record: RequestRecord) -> None:
        """Append a record and count it."""
        self.records.append(record)
        self.counts[f"{record.method} {record.route}"] += 1
        self.status_counts[record.status] += 1

    def next_seq(self) -> int:
        """The sequence number of the next record."""
        self._seq += 1
        return self._seq

    def count(self, route: str, method: str = "GET") -> int:
        """How many requests hit ``route`` (a template) with ``method``."""
        return self.counts[f"{method} {route}"]

    @property
    def total(self) -> int:
        """How many requests were served."""
        return sum(self.counts.values())

    def matching(self, route: str, method: str | None = None) -> list[RequestRecord]:
        """Records for one route template (and method), oldest first."""
        return [
            r for r in self.records if r.route == route and (method is None or r.method == method)
        ]

    def clear(self) -> None:
        """Forget every record and counter."""
        self.records.clear()
        self.counts.clear()
        self.status_counts.clear()

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.records)


class RateLimiter:
    """Fixed per-second and per-hour windows, as Kong's rate-limiting plugin keeps them.

    ``None`` disables a window. Rejected requests do not consume the budget.
    """

    def __init__(self, clock: Clock, per_second: int | None = 50, per_hour: int | None = 10_000):
        self.clock = clock
        self.per_second = per_second
        self.per_hour = per_hour
        self._second: tuple[int, int] = (-1, 0)  # (window, used)
        self._hour: tuple[int, int] = (-1, 0)

    def _used(self, ts: float) -> tuple[int, int, int, int]:
        second, hour = math.floor(ts), math.floor(ts // 3600)
        used_s = self._second[1] if self._second[0] == second else 0
        used_h = self._hour[1] if self._hour[0] == hour else 0
        return second, used_s, hour, used_h

    def acquire(self) -> tuple[bool, dict[str, str], int]:
        """Take one request from the windows.

        Returns ``(allowed, headers, retry_after_seconds)``; the headers describe the
        windows after this request.
        """
        ts = self.clock.now().timestamp()
        second, used_s, hour, used_h = self._used(ts)
        over_s = self.per_second is not None and used_s >= self.per_second
        over_h = self.per_hour is not None and used_h >= self.per_hour
        allowed = not (over_s or over_h)
        if allowed:
            used_s += 1
            used_h += 1
            self._second = (second, used_s)
            self._hour = (hour, used_h)
        reset_s = max(1, math.ceil(second + 1 - ts))
        reset_h = max(1, math.ceil((hour + 1) * 3600 - ts))
        retry_after = reset_h if over_h else reset_s
        return allowed, self._headers(used_s, used_h, reset_s, reset_h), retry_after

    def _headers(self, used_s: int, used_h: int, reset_s: int, reset_h: int) -> dict[str, str]:
        headers: dict[str, str] = {}
        windows: list[tuple[int, int, int]] = []  # (remaining, limit, reset)
        if self.per_hour is not None:
            remaining_h = max(0, self.per_hour - used_h)
            headers["X-Ratelimit-Limit-Hour"] = str(self.per_hour)
            headers["X-Ratelimit-Remaining-Hour"] = str(remaining_h)
            windows.append((remaining_h, self.per_hour, reset_h))
        if self.per_second is not None:
            remaining_s = max(0, self.per_second - used_s)
            headers["X-Ratelimit-Limit-Second"] = str(self.per_second)
            headers["X-Ratelimit-Remaining-Second"] = str(remaining_s)
            windows.append((remaining_s, self.per_second, reset_s))
        if windows:
            # Kong's RateLimit-* headers describe the window closest to running out.
            remaining, limit, reset = min(windows, key=lambda w: (w[0], -w[2]))
            headers["Ratelimit-Limit"] = str(limit)
            headers["Ratelimit-Remaining"] = str(remaining)
            headers["Ratelimit-Reset"] = str(reset)
        return dict(sorted(headers.items()))


Authenticator = Callable[[web.Request], Awaitable[web.StreamResponse | None]]


def route_template(request: web.Request) -> str:
    """The route template that matched ``request``, or its raw path."""
    info = request.match_info
    resource = info.route.resource if info is not None and info.route is not None else None
    if resource is None:
        return request.path
    return resource.canonical


class HttpSimulator:
    """State and middlewares common to the simulated APIs.

    ``latency_ms`` plus a uniform ``jitter_ms`` delays every authenticated request.
    """

    def __init__(
        self,
        *,
        clock: Clock,
        seed: int = 0,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        per_second: int | None = 50,
        per_hour: int | None = 10_000,
        max_records: int = 100_000,
    ) -> None:
        self.clock = clock
        self.requests = RequestLog(max_records)
        self.limiter = RateLimiter(clock, per_second, per_hour)
        self.faults = FaultInjector(seed)
        self.latency_ms = latency_ms
        self.jitter_ms = jitter_ms
        self._latency_rng = random.Random(f"latency:{seed}")
        self._mutation_rng = random.Random(f"mutations:{seed}")

    def add_fault(
        self,
        path: str,
        kind: FaultKind | str,
        *,
        probability: float = 1.0,
        count: int | None = None,
        method: str | None = None,
        delay: float = 0.0,
        retry_after: int = 1,
        key: str | None = None,
        value: str | None = None,
        after: int = 0,
    ) -> Fault:
        """Add a fault rule (see :class:`Fault`) and return it.

        ``kind`` may carry the key of a body mutation after an ``=``
        (``"field-missing=status"``), the form ``simulate --fault`` passes through.
        """
        if isinstance(kind, str) and not isinstance(kind, FaultKind) and "=" in kind:
            kind, _, named = kind.partition("=")
            key = key or named or None
        fault = Fault(path, FaultKind(kind), probability, count, method, delay, retry_after)
        fault.key = key
        fault.after = after
        if value is not None:
            fault.value = value
        return self.faults.add(fault)

    def shift_records(self, request: web.Request) -> str | None:
        """Change the simulated records before ``request`` is answered (``shift`` faults).

        A vendor simulator overrides this to add and remove records so that offset
        pages shift under a reader; the default changes nothing. Returns what changed.
        """
        return None

    def mutate_body(self, fault: Fault, body: Any) -> Any:
        """``body`` (decoded JSON) altered as ``fault`` says; see :class:`Fault`."""
        return mutate_json(body, fault.kind, fault.key, fault.value, self._mutation_rng)

    def middlewares(self, authenticate: Authenticator) -> list[Middleware]:
        """The middleware chain for an app, outermost first."""

        @web.middleware
        async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
            body: Any = None
            if request.method in WRITE_METHODS and request.body_exists:
                raw = await request.read()
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
            status = 0
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                self.requests.add(
                    RequestRecord(
                        seq=self.requests.next_seq(),
                        at=self.clock.now(),
                        method=request.method,
                        path=request.path,
                        route=route_template(request),
                        query=dict(request.query),
                        status=status,
                        body=body,
                        fault=request.get(FAULT_KEY),
                    )
                )

        @web.middleware
        async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
            denied = await authenticate(request)
            if denied is not None:
                return denied
            return await handler(request)

        @web.middleware
        async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
            allowed, headers, retry_after = self.limiter.acquire()
            if not allowed:
                return web.json_response(
                    {"message": "API rate limit exceeded"},
                    status=429,
                    headers={**headers, "Retry-After": str(retry_after)},
                )
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                exc.headers.update(headers)
                raise
            if not response.prepared and request.get(FAULT_KEY) != FaultKind.RATE_LIMITED_BARE:
                response.headers.update(headers)
            return response

        @web.middleware
        async def faults(request: web.Request, handler: Handler) -> web.StreamResponse:
            fault = self.faults.pick(request.method, request.path)
            if fault is None:
                return await handler(request)
            request[FAULT_KEY] = fault.kind.value
            return await self._apply_fault(fault, request, handler)

        @web.middleware
        async def latency(request: web.Request, handler: Handler) -> web.StreamResponse:
            delay = self.latency_ms
            if self.jitter_ms > 0:
                delay += self._latency_rng.uniform(0, self.jitter_ms)
            if delay > 0:
                await asyncio.sleep(delay / 1000)
            return await handler(request)

        return [record, auth, rate_limit, faults, latency]

    async def _apply_fault(
        self, fault: Fault, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
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
            self.shift_records(request)
            return await handler(request)
        if kind is FaultKind.RESET_MID_BODY:
            return await self._reset_mid_body(request, handler)
        if kind in BODY_MUTATIONS:
            return await self._mutated(fault, request, handler)
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
        self, fault: Fault, request: web.Request, handler: Handler
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
            self.mutate_body(fault, body), status=response.status, headers=_kept(response)
        )

    async def _reset_mid_body(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
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
