"""The HTTP machinery shared by the simulated vendor APIs: request log, middlewares.

A simulated API is an ``aiohttp.web.Application`` whose middlewares come from
:meth:`HttpSimulator.middlewares`, outermost first:

1. **record**: every request lands in :attr:`HttpSimulator.requests` (method, route
   template, query, status, JSON body of writes, the fault applied), whatever answered it;
2. **authenticate**: the vendor's check (a callable returning an error response or None);
3. **rate limit**: per-second and per-hour windows on the simulator's clock
   (:mod:`monitor.simulator.limits`), Kong-style headers on every answer, ``429`` with
   ``Retry-After`` when a window is spent;
4. **faults**: the first matching rule of :mod:`monitor.simulator.faults`, if any,
   replaces or disturbs the
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
import random
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypedDict, Unpack

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from pydantic import SecretStr

from monitor.clock import Clock
from monitor.simulator.evolution import evolve_forever
from monitor.simulator.faults import (
    FAULT_KEY,
    Fault,
    FaultInjector,
    FaultKind,
    apply_fault,
    mutate_json,
)
from monitor.simulator.limits import RateLimiter

log = structlog.get_logger(__name__)

WRITE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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


Authenticator = Callable[[web.Request], Awaitable[web.StreamResponse | None]]


def query_int(request: web.Request, name: str, *, minimum: int) -> int | None:
    """The whole-number query parameter ``name``; None when absent, not a number or
    below ``minimum``."""
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= minimum else None


def route_template(request: web.Request) -> str:
    """The route template that matched ``request``, or its raw path."""
    info = request.match_info
    resource = info.route.resource if info is not None and info.route is not None else None
    if resource is None:
        return request.path
    return resource.canonical


class HttpKnobs(TypedDict, total=False):
    """How a simulated API answers, besides what it answers.

    ``latency_ms`` plus a uniform ``jitter_ms`` delays every authenticated request;
    ``per_second`` and ``per_hour`` are its rate limits (None: no limit);
    ``rival_per_hour`` is what the tenant's other integrations spend of its hourly
    budget (:class:`~monitor.simulator.limits.RateLimiter`); ``max_records`` bounds the
    request log.
    """

    latency_ms: float
    jitter_ms: float
    per_second: int | None
    per_hour: int | None
    rival_per_hour: float
    max_records: int


class SimulatorKnobs(HttpKnobs, total=False):
    """What every simulator takes besides its fleet and token: the HTTP knobs, ``seed``
    (faults, latency and mutations repeat with it) and ``evolve_every`` (seconds; when
    set, :meth:`HttpSimulator.evolve_forever` advances the fleet that often on its clock).
    """

    seed: int
    evolve_every: float | None


class HttpSimulator:
    """State and middlewares common to the simulated APIs (see :class:`SimulatorKnobs`).

    ``token`` is the one bearer token the simulated API accepts.
    """

    #: Names the simulator's log events (``simulator.<vendor>.evolved``).
    vendor = "http"

    def __init__(
        self, *, clock: Clock, token: str | SecretStr, **knobs: Unpack[SimulatorKnobs]
    ) -> None:
        seed = knobs.get("seed", 0)
        self.clock = clock
        self.token = token if isinstance(token, SecretStr) else SecretStr(token)
        self.seed = seed
        self.evolve_every = knobs.get("evolve_every")
        self.evolutions = 0
        self.requests = RequestLog(knobs.get("max_records", 100_000))
        self.limiter = RateLimiter(
            clock,
            knobs.get("per_second", 50),
            knobs.get("per_hour", 10_000),
            knobs.get("rival_per_hour", 0.0),
        )
        self.faults = FaultInjector(seed)
        self.latency_ms = knobs.get("latency_ms", 0.0)
        self.jitter_ms = knobs.get("jitter_ms", 0.0)
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

    def announce(self, url: str, **facts: object) -> None:
        """Log that the simulator serves at ``url``, with its limits and ``facts``."""
        log.info(
            f"simulator.{self.vendor}.started", url=url, seed=self.seed,
            per_second=self.limiter.per_second, per_hour=self.limiter.per_hour,
            rival_per_hour=self.limiter.rival_per_hour, evolve_every=self.evolve_every,
            **facts,
        )

    def advance(self, seconds: float) -> dict[str, int]:
        """Move the simulated fleet ``seconds`` on; what changed, as counts for the log."""
        return {}

    async def evolve_forever(self) -> None:
        """Advance the fleet every ``evolve_every`` seconds of the clock."""
        await evolve_forever(self.clock, self.evolve_every, self._evolve)

    def _evolve(self, seconds: float) -> None:
        counts = self.advance(seconds)
        self.evolutions += 1
        log.info(f"simulator.{self.vendor}.evolved", **counts)

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
        return await apply_fault(
            fault, request, handler, shift=self.shift_records, mutate=self.mutate_body
        )
