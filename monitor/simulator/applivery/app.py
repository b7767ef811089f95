"""A simulated Applivery organization (Windows devices), served by aiohttp.

Routes, following the vendor's API notes (all under ``/v1``)::

    GET  /organizations/{organizationId}                                      the workspace
    GET  /organizations/{organizationId}/mdm/windows/enterprise/devices       page/limit
    GET  /organizations/{organizationId}/mdm/windows/enterprise/devices/{winDeviceId}
    POST /organizations/{organizationId}/mdm/windows/enterprise/devices/{winDeviceId}/info

``organizationId`` is the workspace slug or its 24-hex id; ``winDeviceId`` the device
id, its serial number or its IMEI. Answers use the ``{"status": true, "data": ...}``
envelope; lists are mongoose-paginate pages (``items``, ``hasNextPage``, ...); errors
are ``{"status": false, "error": {"code", "message"}}``: 401 with 4002 (no token) or
4004 (wrong token), 404 with 3001 (unknown organization or device). The validation
error (400, code 1001) is this simulator's own invention: the real shape is not
documented.

The fleet (:mod:`.fleet`) is seeded and evolves with ``evolve_every``.

Rate limits, faults, latency and the request log come from
:class:`~monitor.simulator.http.HttpSimulator` (the 429 body is Kong-like: Applivery's
is not documented). Tests reach the simulator through ``app[APPLIVERY_SIM_KEY]``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any, Final, Unpack

import structlog
from aiohttp import web
from pydantic import SecretStr

from monitor.simulator.applivery.bodies import device_body, error, invalid, not_found, ok
from monitor.simulator.applivery.fleet import INFO_CATEGORIES, AppliveryFleet, WinDevice
from monitor.simulator.auth import presented_token, token_matches
from monitor.simulator.evolution import in_background
from monitor.simulator.http import HttpSimulator, SimulatorKnobs, query_int

log = structlog.get_logger(__name__)

API_PREFIX: Final = "/v1"
ORG: Final = "/v1/organizations/{organization_id}"
DEVICES: Final = ORG + "/mdm/windows/enterprise/devices"
DEVICE: Final = DEVICES + "/{win_device_id}"
DEVICE_INFO: Final = DEVICE + "/info"

DEFAULT_LIMIT: Final = 10
"""mongoose-paginate's default page size, used when ``limit`` is absent."""

_ORG_RE: Final = re.compile(r"(([a-fA-F0-9]{24})|([a-zA-Z0-9\-]{3,}))", re.ASCII)
_WIN_ID_RE: Final = re.compile(r"(([a-fA-F0-9]{24})|(\w{1,}))", re.ASCII)


# --------------------------------------------------------------------------- the simulator


class AppliverySimulator(HttpSimulator):
    """One simulated organization: its fleet, its token and the HTTP knobs.

    ``max_limit`` caps ``limit`` (larger values are clamped silently, as the API notes
    say some endpoints do). ``evolve_every`` (seconds) advances the fleet in the
    background on the fleet's clock. The HTTP knobs are
    :class:`~monitor.simulator.http.SimulatorKnobs` (no burst limit unless told otherwise).
    """

    vendor = "applivery"

    def __init__(
        self,
        fleet: AppliveryFleet,
        *,
        token: str | SecretStr,
        max_limit: int = 1000,
        **knobs: Unpack[SimulatorKnobs],
    ) -> None:
        knobs.setdefault("per_second", None)  # the reference documents no burst limit
        super().__init__(clock=fleet.clock, token=token, **knobs)
        self.fleet = fleet
        self.max_limit = max_limit

    def __repr__(self) -> str:
        return f"AppliverySimulator(devices={self.fleet.device_count}, token=**********)"

    async def authenticate(self, request: web.Request) -> web.StreamResponse | None:
        """401 with 4002 without a bearer token, 4004 with a wrong one; else None."""
        presented = presented_token(request)
        if presented is None:
            return error(401, 4002, "No auth token")
        if not token_matches(presented, self.token):
            return error(401, 4004, "Invalid Token")
        self.fleet.apply_due()
        return None

    def advance(self, seconds: float) -> dict[str, int]:
        """Move the fleet on; how many devices changed."""
        changes = self.fleet.advance(seconds)
        return {"changes": len(changes), "devices": self.fleet.device_count}


APPLIVERY_SIM_KEY: Final = web.AppKey("applivery_simulator", AppliverySimulator)
"""Where the app keeps its :class:`AppliverySimulator` (``app[APPLIVERY_SIM_KEY]``)."""


def _sim(request: web.Request) -> AppliverySimulator:
    return request.app[APPLIVERY_SIM_KEY]


def _organization_error(request: web.Request) -> web.Response | None:
    org = request.match_info["organization_id"]
    if _ORG_RE.fullmatch(org) is None:
        return invalid("organizationId does not match its pattern")
    if not _sim(request).fleet.knows_organization(org):
        return not_found()
    return None


def _device(request: web.Request) -> WinDevice | web.Response:
    denied = _organization_error(request)
    if denied is not None:
        return denied
    win_device_id = request.match_info["win_device_id"]
    if _WIN_ID_RE.fullmatch(win_device_id) is None:
        return invalid("winDeviceId does not match its pattern")
    found = _sim(request).fleet.find(win_device_id)
    return not_found() if found is None else found


def _positive_int(request: web.Request, name: str, default: int) -> int | None:
    if name not in request.query:
        return default
    return query_int(request, name, minimum=1)


async def get_organization(request: web.Request) -> web.Response:
    """``GET /organizations/{organizationId}``: the workspace's id, slug and name."""
    denied = _organization_error(request)
    if denied is not None:
        return denied
    fleet = _sim(request).fleet
    return ok(
        {
            "id": fleet.organization_id,
            "slug": fleet.organization,
            "name": fleet.organization.replace("-", " ").title(),
        }
    )


async def list_devices(request: web.Request) -> web.Response:
    """``GET .../devices``: a mongoose-paginate page inside the envelope."""
    denied = _organization_error(request)
    if denied is not None:
        return denied
    sim = _sim(request)
    page = _positive_int(request, "page", 1)
    limit = _positive_int(request, "limit", DEFAULT_LIMIT)
    if page is None or limit is None:
        return invalid("page and limit must be positive integers")
    limit = min(limit, sim.max_limit)
    show_deleted = request.query.get("show-deleted", "false").lower() == "true"
    devices = sim.fleet.listed(show_deleted=show_deleted)
    tags = request.query.getall("tags", [])
    if tags:
        wanted = {t for raw in tags for t in raw.split(",") if t}
        devices = [d for d in devices if wanted.intersection(d.tags)]
    total = len(devices)
    pages = max(1, -(-total // limit))
    start = (page - 1) * limit
    items = [device_body(d, sim.fleet) for d in devices[start : start + limit]]
    return ok(
        {
            "items": items,
            "totalDocs": total,
            "limit": limit,
            "page": page,
            "totalPages": pages,
            "pagingCounter": start + 1,
            "hasPrevPage": page > 1,
            "hasNextPage": page < pages,
            "prevPage": page - 1 if page > 1 else None,
            "nextPage": page + 1 if page < pages else None,
        }
    )


async def get_device(request: web.Request) -> web.Response:
    """``GET .../devices/{winDeviceId}``: the device by id, serial number or IMEI."""
    found = _device(request)
    if isinstance(found, web.Response):
        return found
    return ok(device_body(found, _sim(request).fleet))


async def refresh_info(request: web.Request) -> web.Response:
    """``POST .../devices/{winDeviceId}/info`` with ``{"info": [...]}``.

    ``data.status`` is true when the request was sent to the device (an active device
    that reports), false otherwise.
    """
    found = _device(request)
    if isinstance(found, web.Response):
        return found
    try:
        payload = json.loads(await request.read() or b"null")
    except ValueError:
        return invalid("the body is not JSON")
    info = payload.get("info") if isinstance(payload, dict) else None
    if (
        not isinstance(info, list)
        or not info
        or not all(isinstance(c, str) and c in INFO_CATEGORIES for c in info)
    ):
        return invalid(f"info must be a non-empty list of {', '.join(INFO_CATEGORIES)}")
    sent = _sim(request).fleet.request_refresh(found, info)
    return ok({"status": sent})


async def _express_not_found(request: web.Request) -> web.Response:
    return web.Response(text=f"Cannot {request.method} {request.path}", status=404)


@web.middleware
async def _unknown_routes(request: web.Request, handler: Any) -> web.StreamResponse:
    """Unknown URLs answer like Express does: 404 with a short text."""
    try:
        response: web.StreamResponse = await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        return await _express_not_found(request)
    return response


def make_applivery_app(sim: AppliverySimulator) -> web.Application:
    """Build the aiohttp application for one simulated organization.

    The app runs the background evolve task (when ``sim.evolve_every`` is set) and
    stops it on clean-up.
    """
    app = web.Application(middlewares=[*sim.middlewares(sim.authenticate), _unknown_routes])
    app[APPLIVERY_SIM_KEY] = sim
    app.add_routes(
        [
            web.get(ORG, get_organization),
            web.get(DEVICES, list_devices),
            web.get(DEVICE, get_device),
            web.post(DEVICE_INFO, refresh_info),
        ]
    )
    app.cleanup_ctx.append(_lifecycle)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    sim = app[APPLIVERY_SIM_KEY]
    async with in_background(sim.evolve_forever() if sim.evolve_every else None):
        yield
