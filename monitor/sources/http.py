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

One attempt (the session, the headers, the budget slot, the capped read, the
translation of aiohttp's exceptions, the counters) is :mod:`monitor.sources.transport`.
Paging over ``limit``/``offset`` endpoints, bare lists or Django REST Framework pages,
comes from :mod:`monitor.sources.paging` (:meth:`ApiClient.iter_pages`).
"""

from __future__ import annotations

import random
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, Self, TypedDict, Unpack

import aiohttp
import orjson
import structlog
import yarl
from pydantic import SecretStr

from monitor.clock import Clock
from monitor.errors import MalformedResponseError, SourceError
from monitor.settings import RetryConfig, SourceBase
from monitor.sources.answers import Answers, Response
from monitor.sources.budget import RequestBudget
from monitor.sources.paging import MAX_PAGE_SIZE, Page, PageShape, Paging, Params
from monitor.sources.retry import RetryPolicy
from monitor.sources.transport import (
    MAX_BODY_BYTES,
    RequestHook,
    RequestStats,
    Transport,
)

log = structlog.get_logger(__name__)

Validator = Callable[[str, Any], None]
"""``validate(endpoint, body)``: raise MalformedResponseError when ``body`` is unusable."""


class ClientOptions(TypedDict, total=False):
    """What a client built from a source's config may be given besides the config.

    ``token`` overrides the config's (already read from a file); ``budget`` is the
    tenant's (share one between every client of a tenant; a fresh one otherwise); a
    ``session`` passed in stays the caller's to close; ``budget_max_wait`` bounds the
    wait for a budget slot; ``rng`` drives the retry jitter (tests seed it).
    """

    token: SecretStr | None
    budget: RequestBudget | None
    session: aiohttp.ClientSession | None
    on_request: RequestHook | None
    budget_max_wait: float | None
    rng: random.Random | None


class ApiClient(Answers, Paging, Transport):
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
        cls, config: SourceBase, *, clock: Clock, **options: Unpack[ClientOptions]
    ) -> Self:
        """A client for a configured source (token read from the config unless given)."""
        token = options.get("token")
        return cls(
            source=config.name,
            base_url=config.url,
            token=token if token is not None else config.resolve_token(),
            clock=clock,
            budget=options.get("budget") or RequestBudget(config.budget, clock),
            retry=config.retry,
            timeout=config.timeout.total_seconds(),
            session=options.get("session"),
            on_request=options.get("on_request"),
            budget_max_wait=options.get("budget_max_wait"),
            rng=options.get("rng"),
        )

    def __repr__(self) -> str:
        return f"ApiClient(source={self.source!r}, base_url={self.base_url!r})"

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

    def malformed(
        self, endpoint: str, what: str, status: int | None = None
    ) -> MalformedResponseError:
        """The error for an answer of ``endpoint`` that is unusable because of ``what``."""
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

    def _decode(self, endpoint: str, response: Response) -> Any:
        if response.status == 204 or not response.body.strip():
            return None
        try:
            # orjson: several times faster than the standard parser on the large pages a
            # sweep reads (an item's status, 300 rows a page), and as strict: invalid
            # UTF-8, nesting deeper than 1,024 and integers beyond 64 bits are refused.
            return orjson.loads(response.body)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
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



__all__ = [
    "MAX_BODY_BYTES",
    "MAX_PAGE_SIZE",
    "ApiClient",
    "ClientOptions",
    "Page",
    "PageShape",
    "Params",
    "RequestHook",
    "RequestStats",
    "Response",
    "RetryPolicy",
    "Validator",
]
