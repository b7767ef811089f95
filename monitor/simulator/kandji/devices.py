"""The device routes of the simulated Kandji API (``/api/v1/devices...``).

``GET /devices`` implements the cheap filters (``platform``, ``blueprint_id``,
``device_id``, ``device_name``, ``serial_number``, ``model``, ``os_version``,
``asset_tag``, ``mac_address``, ``user*``, ``tag_name``, ``tag_name_in``,
``filevault_enabled``) and ignores ``ordering`` (devices come in enrolment order).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

from aiohttp import web

from monitor.simulator.faults import HTML_NOT_FOUND
from monitor.simulator.kandji import bodies
from monitor.simulator.kandji.details import details
from monitor.simulator.kandji.model import FieldError, SimDevice
from monitor.simulator.kandji.paging import drf_page, limit_offset, not_found
from monitor.simulator.kandji.simulator import sim_of

DEVICE_ACTIONS: Final = frozenset(
    {
        "blankpush",
        "updateinventory",
        "dailycheckin",
        "reinstallagent",
        "renewmdmprofile",
        "lock",
        "restart",
        "shutdown",
        "clearpasscode",
        "unlockaccount",
        "deleteuser",
        "setname",
        "remotedesktop",
        "erase",
        "enablelostmode",
        "disablelostmode",
        "playlostmodesound",
        "updatelocation",
        "refreshcellularplans",
        "resetworkprofilepasscode",
        "toggledataroaming",
        "togglepersonalhotspot",
    }
)


def _device(request: web.Request) -> SimDevice | None:
    fleet = sim_of(request).fleet
    index = fleet.device_index(request.match_info["device_id"])
    return None if index is None else fleet.device(index)


def per_device(
    handler: Callable[[web.Request, SimDevice], Awaitable[web.Response]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A ``/devices/{device_id}/...`` route: ``handler`` gets the live device the path
    names; a device the tenant does not have is a 404 before it is called."""

    @functools.wraps(handler)
    async def route(request: web.Request) -> web.Response:
        device = _device(request)
        if device is None:
            return not_found()
        return await handler(request, device)

    return route


# --- devices ------------------------------------------------------------------------------

_CONTAINS_FILTERS: Final[dict[str, Callable[[SimDevice], str]]] = {
    "device_name": lambda d: d.name,
    "serial_number": lambda d: d.serial_number,
    "model": lambda d: d.hardware.model,
    "os_version": lambda d: d.os_version,
    "asset_tag": lambda d: d.asset_tag,
    "mac_address": lambda d: d.mac_address,
    "user": lambda d: d.user.name if d.user else "",
    "user_name": lambda d: d.user.name if d.user else "",
    "user_email": lambda d: d.user.email if d.user else "",
}
_EXACT_FILTERS: Final[dict[str, Callable[[SimDevice], str]]] = {
    "device_id": lambda d: d.id,
    "user_email_exact": lambda d: d.user.email if d.user else "",
    "user_id": lambda d: d.user.id if d.user else "",
}


def _contains(get: Callable[[SimDevice], str], needle: str) -> Callable[[SimDevice], bool]:
    return lambda d: needle in get(d)


def _equals(get: Callable[[SimDevice], str], wanted: str) -> Callable[[SimDevice], bool]:
    return lambda d: get(d) == wanted


def _filtered_devices(request: web.Request) -> Sequence[int]:
    """Live device indices matching the list filters of ``GET /devices``."""
    fleet = sim_of(request).fleet
    q = request.query
    selected: Sequence[int] = fleet.device_indices()
    platform = q.get("platform")
    if platform is not None:
        selected = fleet.select_indices(
            ("platform", platform), lambda i: fleet.platform_of(i) == platform
        )
    blueprint = q.get("blueprint_id")
    if blueprint is not None:
        members: set[int] = set()
        for bp in fleet.blueprints:
            if blueprint in bp.id:
                members.update(fleet.blueprint_members(bp))
        selected = [i for i in selected if i in members]
    checks: list[tuple[str, Callable[[SimDevice], bool]]] = []
    for name, get in _CONTAINS_FILTERS.items():
        if name in q:
            needle = q[name]
            checks.append((name, _contains(get, needle)))
    for name, get in _EXACT_FILTERS.items():
        if name in q:
            wanted = q[name]
            checks.append((name, _equals(get, wanted)))
    if "filevault_enabled" in q:
        wanted_fv = q["filevault_enabled"].lower() == "true"
        checks.append(("filevault_enabled", lambda d: d.filevault_enabled is wanted_fv))
    if "tag_name" in q:
        tag = q["tag_name"]
        checks.append(("tag_name", lambda d: tag in d.tags))
    if "tag_name_in" in q:
        tags = set(q["tag_name_in"].split(","))
        checks.append(("tag_name_in", lambda d: bool(tags.intersection(d.tags))))
    for name, check in checks:
        matched = set(fleet.select((name, q[name]), check))
        selected = [i for i in selected if i in matched]
    return selected


async def list_devices(request: web.Request) -> web.Response:
    """``GET /api/v1/devices``: a bare JSON array; ``[]`` past the end."""
    fleet = sim_of(request).fleet
    limit, offset = limit_offset(request)
    selected = _filtered_devices(request)
    page = selected[offset : offset + limit]
    return web.json_response([bodies.device_record(fleet.device(i)) for i in page])


@per_device
async def get_device(request: web.Request, device: SimDevice) -> web.Response:
    """``GET /api/v1/devices/{device_id}``."""
    return web.json_response(bodies.device_record(device))


@per_device
async def patch_device(request: web.Request, device: SimDevice) -> web.Response:
    """``PATCH /api/v1/devices/{device_id}``: blueprint_id, user, asset_tag, tags."""
    sim = sim_of(request)
    try:
        payload = json.loads(await request.read() or b"{}")
    except ValueError as exc:
        return web.json_response({"detail": f"JSON parse error - {exc}"}, status=400)
    if not isinstance(payload, dict):
        return web.json_response(
            {"non_field_errors": ["Invalid data. Expected a dictionary."]}, status=400
        )
    fields = {k: payload[k] for k in ("blueprint_id", "user", "asset_tag", "tags") if k in payload}
    try:
        sim.fleet.update_device(device.id, **fields)
    except FieldError as exc:
        return web.json_response({exc.field: [exc.message]}, status=400)
    return web.json_response(bodies.device_record(sim.fleet.device(device.index)))


@per_device
async def delete_device(request: web.Request, device: SimDevice) -> web.Response:
    """``DELETE /api/v1/devices/{device_id}``: 204."""
    sim_of(request).fleet.remove_device(device.id)
    return web.Response(status=204)


@per_device
async def device_details(request: web.Request, device: SimDevice) -> web.Response:
    """``GET /api/v1/devices/{device_id}/details``."""
    return web.json_response(details(device, sim_of(request).fleet))


@per_device
async def get_lost_mode(request: web.Request, device: SimDevice) -> web.Response:
    """``GET .../details/lostmode``: 400 ``["Device is not in lost mode."]`` when off."""
    body = bodies.lost_mode_body(device)
    if body is None:
        return web.json_response(["Device is not in lost mode."], status=400)
    return web.json_response(body)


@per_device
async def cancel_lost_mode(request: web.Request, device: SimDevice) -> web.Response:
    """``DELETE .../details/lostmode``: 204."""
    sim_of(request).fleet.cancel_lost_mode(device.index)
    return web.Response(status=204)


@per_device
async def device_status(request: web.Request, device: SimDevice) -> web.Response:
    """``GET /api/v1/devices/{device_id}/status``."""
    fleet = sim_of(request).fleet
    body = bodies.device_status_body(
        device, fleet.device_items(device.index), fleet.device_parameters(device.index)
    )
    return web.json_response(body)


@per_device
async def device_library_items(request: web.Request, device: SimDevice) -> web.Response:
    """``GET /api/v1/devices/{device_id}/library-items``."""
    states = sim_of(request).fleet.device_items(device.index)
    return web.json_response(bodies.device_library_items_body(device, states))


@per_device
async def device_parameters(request: web.Request, device: SimDevice) -> web.Response:
    """``GET /api/v1/devices/{device_id}/parameters``."""
    params = sim_of(request).fleet.device_parameters(device.index)
    return web.json_response(bodies.device_parameters_body(device, params))


@per_device
async def device_apps(request: web.Request, device: SimDevice) -> web.Response:
    """``GET /api/v1/devices/{device_id}/apps``."""
    return web.json_response(bodies.apps_body(device))


@per_device
async def device_activity(request: web.Request, device: SimDevice) -> web.Response:
    """``GET /api/v1/devices/{device_id}/activity``: a DRF page under ``activity``."""
    events = sim_of(request).fleet.activity(device.index)
    limit, offset = limit_offset(request)
    results = [bodies.activity_entry(device, e) for e in events[offset : offset + limit]]
    page = drf_page(request, len(events), results, limit, offset)
    return web.json_response({"device_id": device.id, "activity": page})


@per_device
async def device_commands(request: web.Request, device: SimDevice) -> web.Response:
    """``GET /api/v1/devices/{device_id}/commands``: a DRF page under ``commands``."""
    commands = sim_of(request).fleet.commands(device.index)
    limit, offset = limit_offset(request)
    results = [bodies.command_entry(c) for c in commands[offset : offset + limit]]
    page = drf_page(request, len(commands), results, limit, offset)
    return web.json_response({"device_id": device.id, "commands": page})


async def device_action(request: web.Request) -> web.Response:
    """``POST /api/v1/devices/{device_id}/action/{action}``: 200 with an empty body
    (``lock`` answers ``{"PIN": ...}`` for a Mac)."""
    action = request.match_info["action"]
    if action not in DEVICE_ACTIONS:
        return web.Response(text=HTML_NOT_FOUND, status=404, content_type="text/html")
    device = _device(request)
    if device is None:
        return not_found()
    payload: Any = None
    raw = await request.read()
    if raw:
        try:
            payload = json.loads(raw)
        except ValueError as exc:
            return web.json_response({"detail": f"JSON parse error - {exc}"}, status=400)
    try:
        result = sim_of(request).fleet.perform_action(
            device.index, action, payload if isinstance(payload, dict) else None
        )
    except ValueError as exc:
        # lock answers a bare JSON string; other refusals use DRF's list of messages.
        message = str(exc)
        return web.json_response(message if action == "lock" else [message], status=400)
    if result is None:
        return web.Response(status=200, headers={"Allow": "POST"})
    return web.json_response(result, headers={"Allow": "POST"})
