"""One attempt of one request, mixed into :class:`~monitor.sources.http.ApiClient`.

:class:`Transport` owns the :class:`aiohttp.ClientSession` (created on first use, closed
with the client when the client created it), takes one budget slot per attempt, sends
the bearer token, reads the body up to :data:`MAX_BODY_BYTES`, and translates every
aiohttp exception once into :mod:`monitor.errors` (:func:`transport_error`), carrying
the source name and the endpoint *template*, never the token or the concrete URL. Each
attempt is counted in :class:`RequestStats` and reported to the ``on_request`` hook.

Whether to try again is not decided here: :class:`~monitor.sources.http.ApiClient` asks
the one retry policy after each failed attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

import aiohttp
import structlog
import yarl
from pydantic import SecretStr

from monitor.clock import Clock
from monitor.errors import MalformedResponseError, SourceError, TransportError
from monitor.sources.answers import Response
from monitor.sources.budget import RequestBudget
from monitor.sources.paging import Params
from monitor.sources.retry import NotConnectedError

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 32 * 1024 * 1024
"""The largest answer read from an MDM API (a page of 300 devices is well under 1 MiB)."""

USER_AGENT = "compliance-monitor/0.1"

RequestHook = Callable[[str, str, str, float], None]
"""``on_request(source, endpoint, status, seconds)``; status is the HTTP code as a string,
or ``timeout`` / ``connection`` / ``payload`` when no complete response arrived."""


@dataclass
class RequestStats:
    """What one client has sent: attempts by endpoint template and status."""

    by_endpoint_status: Counter[tuple[str, str]] = field(default_factory=Counter)
    requests: int = 0
    retries: int = 0
    failures: int = 0
    seconds: float = 0.0
    server_remaining_hour: int | None = None
    """The tenant's hourly requests left, as the gateway last reported it
    (``X-RateLimit-Remaining-Hour``); it counts every integration of the tenant."""

    def record(self, endpoint: str, status: str, seconds: float) -> None:
        """Count one attempt."""
        self.by_endpoint_status[(endpoint, status)] += 1
        self.requests += 1
        self.seconds += seconds

    def count(self, endpoint: str | None = None, status: str | None = None) -> int:
        """Attempts matching ``endpoint`` and/or ``status`` (None matches any)."""
        return sum(
            n
            for (ep, st), n in self.by_endpoint_status.items()
            if (endpoint is None or ep == endpoint) and (status is None or st == status)
        )


class Closing:
    """``async with`` closes it (:meth:`close`)."""

    async def close(self) -> None:
        """Release what the object holds."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def transport_error(
    source: str, method: str, endpoint: str, exc: BaseException, timeout: float
) -> tuple[SourceError, str | None]:
    """The error an attempt that got no complete answer raises, and the status label it
    is counted under when that is not the label of the stage it failed in."""
    request = f"{source}: {method} {endpoint}"
    cls: type[SourceError] = TransportError
    label = None
    if isinstance(exc, TimeoutError):
        text, label = f"{request} timed out after {timeout:g}s", "timeout"
    elif isinstance(exc, aiohttp.ClientConnectorError):
        cls, text = NotConnectedError, f"{request}: cannot connect ({_os_reason(exc)})"
    elif isinstance(exc, aiohttp.ClientPayloadError):
        text = f"{request}: the response body was cut short"
    elif isinstance(exc, aiohttp.ClientConnectionError | ConnectionError):
        text = f"{request}: connection lost ({exc.__class__.__name__})"
    else:
        text, label = f"{request}: request failed ({exc.__class__.__name__})", "error"
    return cls(text, source=source, endpoint=endpoint), label


def _os_reason(exc: aiohttp.ClientConnectorError) -> str:
    return exc.os_error.strerror or exc.os_error.__class__.__name__


class Transport(Closing):
    """Sending one attempt; the class it is mixed into sets these attributes."""

    source: str
    clock: Clock
    budget: RequestBudget
    budget_max_wait: float | None
    timeout: aiohttp.ClientTimeout
    on_request: RequestHook | None
    stats: RequestStats
    max_body_bytes: int
    _token: SecretStr
    _session: aiohttp.ClientSession | None
    _owns_session: bool
    _closed: bool

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError(f"the client of source {self.source!r} is closed")
        if self._session is None:
            # Created on first use so it binds to the running loop.
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        """Close the session if this client created it (a session passed in is the caller's)."""
        self._closed = True
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def _attempt(
        self,
        method: str,
        endpoint: str,
        url: yarl.URL,
        params: Params | None,
        json_body: Any,
    ) -> Response:
        session = self._get_session()
        headers = {
            "Authorization": f"Bearer {self._token.get_secret_value()}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        async with self.budget.slot(max_wait=self.budget_max_wait):
            started = self.clock.monotonic()
            status_label = "connection"
            try:
                async with session.request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=False,
                ) as resp:
                    status_label = "payload"
                    body = await self._read_capped(method, endpoint, resp)
                    status_label = str(resp.status)
                    response = Response(
                        status=resp.status,
                        headers=dict(resp.headers.items()),
                        body=body,
                        content_type=resp.content_type,
                    )
            except asyncio.CancelledError:
                status_label = "cancelled"
                raise
            except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
                error, label = transport_error(
                    self.source, method, endpoint, exc, self.timeout.total or 0.0
                )
                status_label = label or status_label
                raise error from exc
            finally:
                self._record(endpoint, status_label, self.clock.monotonic() - started)
        self._note_rate_headers(response)
        return response

    async def _read_capped(
        self, method: str, endpoint: str, resp: aiohttp.ClientResponse
    ) -> bytes:
        """The body, refused (MalformedResponseError) as soon as it exceeds the cap."""
        limit = self.max_body_bytes
        declared = resp.content_length
        if declared is not None and declared > limit:
            raise self._too_large(method, endpoint, resp.status)
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > limit:
                raise self._too_large(method, endpoint, resp.status)
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, method: str, endpoint: str, status: int) -> MalformedResponseError:
        return MalformedResponseError(
            f"{self.source}: {method} {endpoint} answered {status} with a body over "
            f"{self.max_body_bytes // (1024 * 1024)} MiB; not read further",
            source=self.source,
            endpoint=endpoint,
            status=status,
        )

    def _note_rate_headers(self, response: Response) -> None:
        self.budget.observe(response.headers)
        for name, value in response.headers.items():
            if name.lower() == "x-ratelimit-remaining-hour":
                with contextlib.suppress(ValueError):  # a garbled header is just not news
                    self.stats.server_remaining_hour = int(value)
                return

    def _record(self, endpoint: str, status: str, seconds: float) -> None:
        self.stats.record(endpoint, status, seconds)
        if self.on_request is not None:
            try:
                self.on_request(self.source, endpoint, status, seconds)
            except Exception:  # a metrics hook must never break a request
                log.exception("api.hook_failed", source=self.source, endpoint=endpoint)


__all__ = [
    "MAX_BODY_BYTES",
    "USER_AGENT",
    "Closing",
    "RequestHook",
    "RequestStats",
    "Transport",
    "transport_error",
]
