"""The Applivery (Workspace API) client for Windows devices.

:class:`AppliveryClient` reads one organization's Windows devices and asks a device for
a selective information refresh, through the same :class:`~monitor.sources.http.ApiClient`
seam as every other source (bearer token, one :class:`~monitor.sources.budget.RequestBudget`
slot per attempt, retries on 429/5xx honouring ``Retry-After``, one error tree).

Endpoints (relative to the configured ``url``, ``https://api.applivery.io/v1``)::

    GET  /organizations/{organizationId}/mdm/windows/enterprise/devices            page/limit
    GET  /organizations/{organizationId}/mdm/windows/enterprise/devices/{winDeviceId}
    POST /organizations/{organizationId}/mdm/windows/enterprise/devices/{winDeviceId}/info

Errors: Applivery answers ``{"status": false, "error": {"code", "message"}}``. The code
refines the class the HTTP status gives: 4001/4002/4004/4011/4014 (no, invalid or
stale token) are :class:`~monitor.errors.AuthError`, 3001 (entity not found) is
:class:`~monitor.errors.NotFoundError`; 429 and 5xx keep their retryable classes
whatever the code says. The same envelope inside a 2xx answer is an error too.

What the reference leaves open, and how this client copes (see the API notes):

- the maximum ``limit`` is not documented: the configured ``page_size`` is sent, and
  the ``limit`` the answer reports, if any, is believed over it;
- paging stops on ``hasNextPage: false`` or an empty page; when the answer has no
  paging fields (a bare array), on a page shorter than the limit;
- there is no stable sort documented, so a device enrolled during a scan may shift the
  pages; duplicates are dropped (last one wins) and the next sweep sees the rest;
- the 429 body and rate-limit headers are undocumented: only the status and a
  ``Retry-After`` header are relied on.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import structlog

from monitor.errors import (
    AuthError,
    ClientRequestError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    SourceError,
)
from monitor.sources.applivery.config import AppliverySourceConfig
from monitor.sources.applivery.models import (
    AError,
    AInfoRefresh,
    AWinDevice,
    PageInfo,
    page_of,
    parse_envelope,
)
from monitor.sources.http import ApiClient, Params, Response
from monitor.sources.vendor import VendorClient

log = structlog.get_logger(__name__)

# Endpoint templates: these label logs, metrics and errors.
DEVICES = "/organizations/{organization_id}/mdm/windows/enterprise/devices"
DEVICE = DEVICES + "/{win_device_id}"
DEVICE_INFO = DEVICE + "/info"

MAX_PAGES = 100_000

# The patterns the reference gives for the path parameters. JavaScript's ``\w`` is
# ASCII-only, hence re.ASCII; fullmatch, because Python's ``$`` also matches before a
# trailing newline.
ORGANIZATION_ID_RE = re.compile(r"(([a-fA-F0-9]{24})|([a-zA-Z0-9\-]{3,}))", re.ASCII)
WIN_DEVICE_ID_RE = re.compile(r"(([a-fA-F0-9]{24})|(\w{1,}))", re.ASCII)

AUTH_CODES: frozenset[int] = frozenset({4001, 4002, 4004, 4011, 4014})
"""Error codes meaning the token is missing, wrong or stale (HTTP 401)."""
NOT_FOUND_CODES: frozenset[int] = frozenset({3001})
"""Error codes meaning the entity (device, organization) does not exist."""


def valid_organization_id(value: str) -> bool:
    """True when ``value`` is a 24-hex organization id or a workspace slug."""
    return ORGANIZATION_ID_RE.fullmatch(value) is not None


def valid_win_device_id(value: str) -> bool:
    """True when ``value`` is a 24-hex device id, or a serial number or IMEI (``\\w+``)."""
    return WIN_DEVICE_ID_RE.fullmatch(value) is not None


def _error_class(code: int | None, by_status: type[SourceError]) -> type[SourceError]:
    """The error class for an Applivery error code, refining the HTTP status's class."""
    if by_status in (RateLimitedError, ServerError):
        return by_status  # retry semantics follow the status, whatever the code says
    if code in AUTH_CODES:
        return AuthError
    if code in NOT_FOUND_CODES:
        return NotFoundError
    return by_status


def _envelope_error(body: bytes) -> AError | None:
    """The ``error`` object of an error body, when it is Applivery's JSON envelope."""
    try:
        decoded = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    envelope = parse_envelope(decoded)
    if envelope is None or not envelope.failed:
        return None
    return envelope.error or AError()


class _AppliveryApi(ApiClient):
    """The shared seam, reading Applivery's error envelope to pick the error class.

    The seam branches on the HTTP status only, because Kandji has no error envelope;
    Applivery does, and its code says more than the status (a 401 with 4002 "No auth
    token" and one with 4004 "Invalid Token" call for different fixes).
    """

    def status_error(self, method: str, endpoint: str, response: Response) -> SourceError:
        """The status's error, refined by the envelope's code and worded by its message."""
        by_status = super().status_error(method, endpoint, response)
        error = _envelope_error(response.body)
        if error is None:
            return by_status
        message = (
            f"{self.source}: {method} {endpoint} answered {response.status}: "
            f"{self.describe(error)}"
        )
        cls = _error_class(error.code, type(by_status))
        return cls(
            message,
            source=self.source,
            endpoint=endpoint,
            status=response.status,
            retry_after=by_status.retry_after,
        )

    def describe(self, error: AError) -> str:
        """``error 4004: Invalid Token``, sanitised (one line, no token, bounded)."""
        text = self.excerpt(error.message.encode()) or "no message"
        return f"error {error.code}: {text}" if error.code is not None else text


class AppliveryClient(VendorClient[AppliverySourceConfig, _AppliveryApi]):
    """Typed access to one Applivery organization's Windows devices (built from its
    config and the :class:`~monitor.sources.http.ClientOptions`)."""

    api_class = _AppliveryApi

    @property
    def organization(self) -> str:
        """The organization's id or slug."""
        return self.config.organization

    # ------------------------------------------------------------------ parsing

    def _data(self, body: Any, endpoint: str) -> Any:
        """``data`` of an enveloped answer; an error envelope (even in a 2xx) raises."""
        envelope = parse_envelope(body)
        if envelope is None:
            return body  # tolerated: an answer without the envelope is its own data
        if envelope.failed:
            error = envelope.error or AError()
            cls = _error_class(error.code, ClientRequestError)
            raise cls(
                f"{self.name}: {endpoint}: {self.api.describe(error)}",
                source=self.name,
                endpoint=endpoint,
            )
        return envelope.data

    def _device(self, row: Any, endpoint: str) -> AWinDevice:
        return self.parse(AWinDevice, row, endpoint, what="a device object")

    def _paths(self, win_device_id: str | None = None) -> dict[str, str]:
        paths = {"organization_id": self.organization}
        if win_device_id is not None:
            if not valid_win_device_id(win_device_id):
                raise ValueError(f"{win_device_id!r} is not a valid winDeviceId")
            paths["win_device_id"] = win_device_id
        return paths

    # ------------------------------------------------------------------ devices

    async def iter_device_pages(
        self,
        *,
        show_deleted: bool = False,
        filters: Params | None = None,
    ) -> AsyncIterator[list[AWinDevice]]:
        """Yield the organization's Windows devices page by page (``page`` from 1).

        ``show_deleted`` asks for deleted devices too; ``filters`` are further query
        parameters (``tags``, ``segmentId``, ``mdm-user``, ``sort`` ...).
        """
        limit = self.config.page_size
        base: dict[str, str | int | float] = dict(filters or {})
        if show_deleted:
            base["show-deleted"] = "true"
        for page in range(1, MAX_PAGES + 1):
            body = await self.api.get_json(
                DEVICES, path_params=self._paths(), params={**base, "page": page, "limit": limit}
            )
            parsed = page_of(self._data(body, DEVICES))
            if parsed is None:
                raise self.malformed(DEVICES, "expected a list of devices")
            rows, info = parsed
            yield [self._device(row, DEVICES) for row in rows]
            if _last_page(rows, info, page, limit):
                return
        raise self.malformed(DEVICES, f"did not end after {MAX_PAGES} pages")

    async def list_devices(
        self,
        *,
        show_deleted: bool = False,
        filters: Params | None = None,
    ) -> list[AWinDevice]:
        """Every Windows device of the organization (all pages, duplicates dropped)."""
        by_id: dict[str, AWinDevice] = {}
        pages = 0
        async for page in self.iter_device_pages(show_deleted=show_deleted, filters=filters):
            pages += 1
            for device in page:
                by_id[device.id or f"#{len(by_id)}"] = device
        log.debug("applivery.devices_listed", source=self.name, devices=len(by_id), pages=pages)
        return list(by_id.values())

    async def get_device(self, win_device_id: str) -> AWinDevice:
        """``GET .../devices/{winDeviceId}`` (the id, the serial number or the IMEI)."""
        body = await self.api.get_json(DEVICE, path_params=self._paths(win_device_id))
        return self._device(self._data(body, DEVICE), DEVICE)

    async def request_info_refresh(
        self, win_device_id: str, info: Sequence[str]
    ) -> AInfoRefresh:
        """``POST .../devices/{winDeviceId}/info`` with ``{"info": [...]}``.

        The answer's ``status`` is True when Applivery sent the request to the device
        (None when the answer does not say). Raises ValueError for an id the API would
        refuse, before anything is sent.
        """
        paths = self._paths(win_device_id)
        if not info or not all(isinstance(c, str) and c for c in info):
            raise ValueError("info needs at least one category name")
        body = await self.api.post_json(DEVICE_INFO, {"info": list(info)}, path_params=paths)
        data = self._data(body, DEVICE_INFO)
        if not isinstance(data, dict):
            raise self.malformed(DEVICE_INFO, f"expected an object, got {type(data).__name__}")
        return AInfoRefresh.model_validate(data)


def _last_page(rows: list[Any], info: PageInfo, page: int, limit: int) -> bool:
    """Whether the page just read is the last one."""
    if not rows or info.has_next is False:
        return True
    if info.has_next is True:
        return False
    if info.total_pages is not None:
        return page >= info.total_pages
    # No paging facts (a bare array): a short page is the last. The server's own limit
    # wins when it reports one (it may cap what we asked for).
    effective = info.limit if info.limit else limit
    return len(rows) < effective


__all__ = [
    "AUTH_CODES",
    "DEVICE",
    "DEVICES",
    "DEVICE_INFO",
    "NOT_FOUND_CODES",
    "AppliveryClient",
    "valid_organization_id",
    "valid_win_device_id",
]
