"""The one aiohttp seam: every request to an MDM API goes through :class:`ApiClient`.

What it does for every call:

- one :class:`aiohttp.ClientSession` per source, explicit timeouts, ``Authorization:
  Bearer`` from a :class:`~pydantic.SecretStr` (never logged), ``Accept: application/json``;
- one budget slot per attempt (:class:`~monitor.sources.budget.RequestBudget`), so
  retries count against the tenant's hourly limit;
- the one retry policy (:class:`~monitor.sources.retry.RetryPolicy`, from the source's
  ``retry`` settings): at
  most ``max_attempts`` sends of one request, whatever went wrong. Retried: 429, 5xx,
  timeouts and connection resets (a non-idempotent method only when the server cannot
  have acted), with exponential backoff and full jitter, honouring ``Retry-After``
  (seconds or an HTTP date); and, when the caller asks for it, an *unusable answer*: a
  body that is not JSON or that the caller's ``validate`` check refuses (garbled, an
  HTML page, a key missing), and a 404 from an endpoint that exists whenever it is
  asked (``absent_is_glitch``). Sleeps go through the injected
  :class:`~monitor.clock.Clock`. No layer above retries again: a failing request is
  sent at most ``max_attempts`` times in all;
- every aiohttp and JSON exception translated once into :mod:`monitor.errors`, carrying
  the source name, the endpoint *template* (``/api/v1/devices/{device_id}/status``, never
  the token) and the status. Error bodies have no common shape (arrays of strings, bare
  strings, ``{"detail"}``, HTML pages), so the client branches on the status code only
  and quotes a short, sanitised excerpt of the body (:mod:`monitor.sources.answers`);
- a body larger than :data:`MAX_BODY_BYTES` is not read past the limit: the call fails
  with :class:`~monitor.errors.MalformedResponseError` (not retried), so a hostile or
  broken API cannot take the daemon's memory and a cut answer never counts as data;
- counters per endpoint template and status (:class:`RequestStats`), and an optional
  ``on_request(source, endpoint, status, seconds)`` hook for metrics.

Paging over ``limit``/``offset`` endpoints, bare lists or Django REST Framework pages,
comes from :mod:`monitor.sources.paging` (:meth:`ApiClient.iter_pages`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import urllib.parse
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import aiohttp
import structlog
import yarl
from pydantic import SecretStr

from monitor.clock import Clock
from monitor.errors import (
    MalformedResponseError,
    SourceError,
    TransportError,
)
from monitor.settings import RetryConfig, SourceBase
from monitor.sources.answers import Answers, Response
from monitor.sources.budget import RequestBudget
from monitor.sources.paging import MAX_PAGE_SIZE, Page, PageShape, Paging, Params
from monitor.sources.retry import NotConnectedError, RetryPolicy

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 32 * 1024 * 1024
"""The largest answer read from an MDM API (a page of 300 devices is well under 1 MiB)."""

USER_AGENT = "compliance-monitor/0.1"

RequestHook = Callable[[str, str, str, float], None]
"""``on_request(source, endpoint, status, seconds)``; status is the HTTP code as a string,
or ``timeout`` / ``connection`` / ``payload`` when no complete response arrived."""


Validator = Callable[[str, Any], None]
"""``validate(endpoint, body)``: raise MalformedResponseError when ``body`` is unusable."""



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


class ApiClient(Answers, Paging):
    """A small JSON-over-HTTP client for one source (one tenant).

    ``endpoint`` arguments are path *templates* relative to ``base_url``
    (``/api/v1/devices/{device_id}``); ``path_params`` fill them in, URL-quoted. The
    template, never the concrete URL, labels logs, counters and errors.
    """

    def __init__(
        self,
        *,
        source: str,
        base_url: str,
        token: SecretStr,
        clock: Clock,
        budget: RequestBudget,
        retry: RetryConfig | None = None,
        timeout: float = 30.0,
        session: aiohttp.ClientSession | None = None,
        on_request: RequestHook | None = None,
        budget_max_wait: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.budget = budget
        self.retry = retry or RetryConfig()
        self.policy = RetryPolicy.from_config(self.retry)
        self.timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 10.0))
        self.on_request = on_request
        self.budget_max_wait = budget_max_wait
        self.stats = RequestStats()
        self.max_body_bytes = MAX_BODY_BYTES
        self._token = token
        self._session = session
        self._owns_session = session is None
        self._rng = rng or random.Random()  # jitter only; not security-relevant
        self._closed = False

    @classmethod
    def from_config(
        cls,
        config: SourceBase,
        *,
        clock: Clock,
        token: SecretStr | None = None,
        budget: RequestBudget | None = None,
        session: aiohttp.ClientSession | None = None,
        on_request: RequestHook | None = None,
        budget_max_wait: float | None = None,
        rng: random.Random | None = None,
    ) -> Self:
        """A client for a configured source (token read from the config unless given)."""
        return cls(
            source=config.name,
            base_url=config.url,
            token=token if token is not None else config.resolve_token(),
            clock=clock,
            budget=budget or RequestBudget(config.budget, clock),
            retry=config.retry,
            timeout=config.timeout.total_seconds(),
            session=session,
            on_request=on_request,
            budget_max_wait=budget_max_wait,
            rng=rng,
        )

    def __repr__(self) -> str:
        return f"ApiClient(source={self.source!r}, base_url={self.base_url!r})"

    # ------------------------------------------------------------------ lifecycle

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

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ verbs

    async def get_json(
        self,
        endpoint: str,
        *,
        path_params: Mapping[str, str] | None = None,
        params: Params | None = None,
    ) -> Any:
        """GET ``endpoint`` and return its decoded JSON body (None when empty).

        A source whose answers can be checked overrides :meth:`validator` and
        :meth:`absent_is_glitch`; their verdicts drive the retry policy.
        """
        return await self.request(
            "GET",
            endpoint,
            path_params=path_params,
            params=params,
            validate=self.validator(endpoint),
            absent_is_glitch=self.absent_is_glitch(endpoint),
        )

    def validator(self, endpoint: str) -> Validator | None:
        """The check a GET of ``endpoint`` must pass (an unusable answer is asked again)."""
        return None

    def absent_is_glitch(self, endpoint: str) -> bool:
        """Whether a 404 from ``endpoint`` is a glitch to ask again about (it always exists)."""
        return False

    async def patch_json(
        self,
        endpoint: str,
        body: Any,
        *,
        path_params: Mapping[str, str] | None = None,
    ) -> Any:
        """PATCH a JSON body to ``endpoint``; return the decoded answer (None when empty)."""
        return await self.request("PATCH", endpoint, path_params=path_params, json_body=body)

    async def post_json(
        self,
        endpoint: str,
        body: Any = None,
        *,
        path_params: Mapping[str, str] | None = None,
    ) -> Any:
        """POST a JSON body (or nothing) to ``endpoint``; return the decoded answer.

        POST is not idempotent: it is retried only when the server cannot have acted
        (429, 503, or a connection that was never established).
        """
        return await self.request("POST", endpoint, path_params=path_params, json_body=body)

    async def delete(
        self,
        endpoint: str,
        *,
        path_params: Mapping[str, str] | None = None,
    ) -> Any:
        """DELETE ``endpoint``; return the decoded answer (None for the usual 204)."""
        return await self.request("DELETE", endpoint, path_params=path_params)

    def _malformed(
        self, endpoint: str, what: str, status: int | None = None
    ) -> MalformedResponseError:
        return MalformedResponseError(
            f"{self.source}: {endpoint}: {what}",
            source=self.source,
            endpoint=endpoint,
            status=status,
        )

    # ------------------------------------------------------------------ core

    def url_for(self, endpoint: str, path_params: Mapping[str, str] | None = None) -> yarl.URL:
        """The absolute URL of ``endpoint`` with ``path_params`` filled in and quoted."""
        quoted = {k: urllib.parse.quote(str(v), safe="") for k, v in (path_params or {}).items()}
        try:
            path = endpoint.format_map(quoted)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"endpoint {endpoint!r} needs path parameter {exc}") from None
        return yarl.URL(self.base_url + path, encoded=True)

    async def request(
        self,
        method: str,
        endpoint: str,
        *,
        path_params: Mapping[str, str] | None = None,
        params: Params | None = None,
        json_body: Any = None,
        validate: Validator | None = None,
        absent_is_glitch: bool = False,
    ) -> Any:
        """Send one logical request under the retry policy; return the decoded JSON body.

        ``validate``, when given, checks a 2xx body (raising MalformedResponseError):
        an unusable answer, or one that is not JSON, is then asked again like a 503.
        ``absent_is_glitch`` asks again after a 404 too.
        """
        url = self.url_for(endpoint, path_params)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._attempt(method, endpoint, url, params, json_body)
                self._note_rate_headers(response)
                if not 200 <= response.status < 300:
                    raise self.status_error(method, endpoint, response)
                body = self._decode(endpoint, response)
                if validate is not None:
                    validate(endpoint, body)
                return body
            except SourceError as error:
                delay = self.policy.delay(
                    error,
                    method=method,
                    attempt=attempt,
                    rng=self._rng,
                    unusable_is_glitch=validate is not None,
                    absent_is_glitch=absent_is_glitch,
                )
                if delay is None:
                    self.stats.failures += 1
                    raise
                await self._pause(method, endpoint, attempt, error, delay)

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
                    return Response(
                        status=resp.status,
                        headers=dict(resp.headers.items()),
                        body=body,
                        content_type=resp.content_type,
                    )
            except asyncio.CancelledError:
                status_label = "cancelled"
                raise
            except TimeoutError as exc:
                status_label = "timeout"
                raise TransportError(
                    f"{self.source}: {method} {endpoint} timed out after {self.timeout.total:g}s",
                    source=self.source,
                    endpoint=endpoint,
                ) from exc
            except aiohttp.ClientConnectorError as exc:
                raise NotConnectedError(
                    f"{self.source}: {method} {endpoint}: cannot connect ({_os_reason(exc)})",
                    source=self.source,
                    endpoint=endpoint,
                ) from exc
            except aiohttp.ClientPayloadError as exc:
                raise TransportError(
                    f"{self.source}: {method} {endpoint}: the response body was cut short",
                    source=self.source,
                    endpoint=endpoint,
                ) from exc
            except (aiohttp.ClientConnectionError, ConnectionError) as exc:
                raise TransportError(
                    f"{self.source}: {method} {endpoint}: connection lost "
                    f"({exc.__class__.__name__})",
                    source=self.source,
                    endpoint=endpoint,
                ) from exc
            except aiohttp.ClientError as exc:
                status_label = "error"
                raise TransportError(
                    f"{self.source}: {method} {endpoint}: request failed "
                    f"({exc.__class__.__name__})",
                    source=self.source,
                    endpoint=endpoint,
                ) from exc
            finally:
                self._record(endpoint, status_label, self.clock.monotonic() - started)

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

    def _decode(self, endpoint: str, response: Response) -> Any:
        if response.status == 204 or not response.body.strip():
            return None
        try:
            return json.loads(response.body)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            # RecursionError: nesting deeper than the parser's stack (``[[[[...``).
            raise MalformedResponseError(
                f"{self.source}: {endpoint} answered {response.status} with a body that is "
                f"not JSON ({response.content_type or 'no content type'}): "
                f"{self.excerpt(response.body)}",
                source=self.source,
                endpoint=endpoint,
                status=response.status,
            ) from exc

    async def _pause(
        self, method: str, endpoint: str, attempt: int, error: SourceError, delay: float
    ) -> None:
        self.stats.retries += 1
        log.info(
            "api.retry",
            source=self.source,
            method=method,
            endpoint=endpoint,
            attempt=attempt,
            status=error.status,
            error=error.__class__.__name__,
            delay_s=round(delay, 3),
            budget_remaining=self.budget.remaining,
        )
        await self.clock.sleep(delay)

def _os_reason(exc: aiohttp.ClientConnectorError) -> str:
    return exc.os_error.strerror or exc.os_error.__class__.__name__


__all__ = [
    "MAX_BODY_BYTES",
    "MAX_PAGE_SIZE",
    "ApiClient",
    "Page",
    "PageShape",
    "Params",
    "RequestHook",
    "RequestStats",
    "Response",
    "RetryPolicy",
    "Validator",
]
