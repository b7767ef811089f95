"""A simulated Kandji (Iru) tenant API, served by aiohttp.

Routes (bodies from :mod:`monitor.simulator.kandji_bodies`, state from
:mod:`monitor.simulator.fleet`), following ``shared/kandji/API-NOTES.md``:

==========================================================  ===============================
``GET /api/v1/devices``                                     bare list; ``limit`` (max 300),
                                                            ``offset``, filters
``GET|PATCH|DELETE /api/v1/devices/{device_id}``            one device record
``GET /api/v1/devices/{device_id}/details``                 per-platform details
``GET|DELETE /api/v1/devices/{device_id}/details/lostmode`` lost mode (400 when off)
``GET /api/v1/devices/{device_id}/status``                  items + parameters
``GET /api/v1/devices/{device_id}/library-items``           items with logs
``GET /api/v1/devices/{device_id}/parameters``              macOS parameters
``GET /api/v1/devices/{device_id}/apps``                    app inventory
``GET /api/v1/devices/{device_id}/activity``                nested DRF page
``GET /api/v1/devices/{device_id}/commands``                nested DRF page
``POST /api/v1/devices/{device_id}/action/{action}``        device actions (200, empty)
``GET /api/v1/blueprints``                                  DRF page
``GET /api/v1/blueprints/{blueprint_id}``                   one blueprint
``GET /api/v1/blueprints/{blueprint_id}/list-library-items`` DRF page of ``{id, name}``
``GET /api/v1/library/library-items/{item_id}/status``      DRF page, one item fleet-wide
``GET /api/v1/tags``                                        DRF page of ``{id, name}``
==========================================================  ===============================

``GET /devices`` implements the cheap filters (``platform``, ``blueprint_id``,
``device_id``, ``device_name``, ``serial_number``, ``model``, ``os_version``,
``asset_tag``, ``mac_address``, ``user*``, ``tag_name``, ``tag_name_in``,
``filevault_enabled``) and ignores ``ordering`` (devices come in enrolment order).

Errors: ``401 {"detail": ...}`` without a valid bearer token, ``403`` for a route the
token is not granted (:attr:`KandjiSimulator.denied_routes`), ``404 {"detail": "Not
found."}`` for unknown devices, items and blueprints, Django's HTML page for unknown
URLs. Rate limits, faults, latency and the request log come from
:class:`~monitor.simulator.common.HttpSimulator`. Tests reach the simulator through
``app[SIM_KEY]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import random
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Final

import structlog
from aiohttp import web
from pydantic import SecretStr

from monitor.simulator import kandji_bodies as bodies
from monitor.simulator.common import HTML_NOT_FOUND, HttpSimulator, route_template
from monitor.simulator.fleet import DemoPlan, FieldError, Fleet, SimDevice

log = structlog.get_logger(__name__)

PAGE_CAP: Final = 300
"""The documented maximum ``limit`` (larger values are clamped, API-NOTES §6.4)."""

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

_NOT_FOUND: Final = {"detail": "Not found."}


class KandjiSimulator(HttpSimulator):
    """One simulated tenant: its fleet, its token and the HTTP knobs.

    ``denied_routes`` holds route templates (``"/api/v1/devices/{device_id}/apps"``) the
    token is not granted; they answer ``403``. ``unlisted_blueprints`` holds blueprint
    ids ``GET /blueprints`` leaves out (their devices still name them). ``evolve_every``
    (seconds) makes the app advance the fleet in the background on the fleet's clock.
    ``demo`` breaks one custom script on a few Macs at start-up and repairs it
    ``demo_repair_after`` seconds later.
    """

    def __init__(
        self,
        fleet: Fleet,
        *,
        token: str | SecretStr,
        seed: int = 0,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        per_second: int | None = 50,
        per_hour: int | None = 10_000,
        evolve_every: float | None = None,
        demo: bool = False,
        demo_devices: int = 3,
        demo_repair_after: float = 90.0,
        max_records: int = 100_000,
    ) -> None:
        super().__init__(
            clock=fleet.clock,
            seed=seed,
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            per_second=per_second,
            per_hour=per_hour,
            max_records=max_records,
        )
        self.fleet = fleet
        self.token = token if isinstance(token, SecretStr) else SecretStr(token)
        self.denied_routes: set[str] = set()
        # Blueprint ids GET /blueprints leaves out, as for a blueprint the token cannot
        # see: its devices still name it, and its own routes still answer.
        self.unlisted_blueprints: set[str] = set()
        self.evolve_every = evolve_every
        self.demo = demo
        self.demo_devices = demo_devices
        self.demo_repair_after = demo_repair_after
        self.demo_plan: DemoPlan | None = None
        self.evolutions = 0
        self._shift_rng = random.Random(f"shift:{seed}")

    def __repr__(self) -> str:
        return f"KandjiSimulator(devices={self.fleet.device_count}, token=**********)"

    def shift_records(self, request: web.Request) -> str | None:
        """Remove one live device listed before the request's ``offset`` and enrol a new
        one of the same platform, so every later ``offset`` page starts one device on.

        A reader paging ``GET /devices`` with plain offsets then skips one device: the
        one that moved onto the page it has already read. Returns what changed.
        """
        fleet = self.fleet
        live = fleet.device_indices()
        if not live:
            return None
        offset = _int_param(request, "offset") or 0
        position = self._shift_rng.randrange(max(1, min(offset, len(live))))
        gone = fleet.device(live[position])
        fleet.remove_device(gone.id)
        added = fleet.add_device(gone.platform)
        log.info(
            "simulator.kandji.shifted", removed=gone.id, added=added, position=position
        )
        return f"removed {gone.id}, added {added}"

    async def authenticate(self, request: web.Request) -> web.StreamResponse | None:
        """401 without a valid bearer token, 403 for a denied route, else None."""
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        if not header or scheme.lower() != "bearer" or not presented.strip():
            return web.json_response(
                {"detail": "Authentication credentials were not provided."},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="api"'},
            )
        expected = self.token.get_secret_value().encode()
        if not hmac.compare_digest(presented.strip().encode(), expected):
            return web.json_response(
                {"detail": "Invalid token."},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="api"'},
            )
        route = route_template(request)
        if route in self.denied_routes:
            return web.json_response(
                {"detail": "You do not have permission to perform this action."}, status=403
            )
        self.fleet.apply_due()
        return None

    async def evolve_forever(self) -> None:
        """Advance the fleet every ``evolve_every`` seconds of the fleet's clock."""
        every = self.evolve_every
        if not every or every <= 0:
            return
        while True:
            await self.fleet.clock.sleep(every)
            changes = self.fleet.advance(every)
            self.evolutions += 1
            log.info(
                "simulator.kandji.evolved",
                changes=len(changes),
                failed=sum(1 for c in changes if c.new in ("ERROR", "failed", "WARNING")),
                devices=self.fleet.device_count,
            )


SIM_KEY: Final = web.AppKey("kandji_simulator", KandjiSimulator)
"""Where the app keeps its :class:`KandjiSimulator` (``app[SIM_KEY]``)."""


def _sim(request: web.Request) -> KandjiSimulator:
    return request.app[SIM_KEY]


def _not_found() -> web.Response:
    return web.json_response(_NOT_FOUND, status=404)


def _device(request: web.Request) -> SimDevice | None:
    fleet = _sim(request).fleet
    index = fleet.device_index(request.match_info["device_id"])
    return None if index is None else fleet.device(index)


def _int_param(request: web.Request, name: str) -> int | None:
    """A positive integer query parameter; absent or invalid values are ignored, as
    Django REST Framework's limit/offset pagination does."""
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


def _limit_offset(request: web.Request) -> tuple[int, int]:
    limit = _int_param(request, "limit")
    limit = PAGE_CAP if not limit else min(limit, PAGE_CAP)
    return limit, _int_param(request, "offset") or 0


def _page(
    request: web.Request, count: int, results: list[Any], limit: int, offset: int
) -> dict[str, Any]:
    """A DRF limit/offset page with absolute ``next``/``previous`` links."""
    url = request.url
    next_link = None
    if offset + limit < count:
        next_link = str(url.update_query(limit=limit, offset=offset + limit))
    previous = None
    if offset > 0:
        if offset - limit <= 0:
            query = {k: v for k, v in url.query.items() if k != "offset"}
            previous = str(url.with_query(query).update_query(limit=limit))
        else:
            previous = str(url.update_query(limit=limit, offset=offset - limit))
    return {"count": count, "next": next_link, "previous": previous, "results": results}


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
    fleet = _sim(request).fleet
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
    fleet = _sim(request).fleet
    limit, offset = _limit_offset(request)
    selected = _filtered_devices(request)
    page = selected[offset : offset + limit]
    return web.json_response([bodies.device_record(fleet.device(i)) for i in page])


async def get_device(request: web.Request) -> web.Response:
    """``GET /api/v1/devices/{device_id}``."""
    device = _device(request)
    if device is None:
        return _not_found()
    return web.json_response(bodies.device_record(device))


async def patch_device(request: web.Request) -> web.Response:
    """``PATCH /api/v1/devices/{device_id}``: blueprint_id, user, asset_tag, tags."""
    sim = _sim(request)
    device = _device(request)
    if device is None:
        return _not_found()
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


async def delete_device(request: web.Request) -> web.Response:
    """``DELETE /api/v1/devices/{device_id}``: 204."""
    device = _device(request)
    if device is None:
        return _not_found()
    _sim(request).fleet.remove_device(device.id)
    return web.Response(status=204)


async def device_details(request: web.Request) -> web.Response:
    """``GET /api/v1/devices/{device_id}/details``."""
    device = _device(request)
    if device is None:
        return _not_found()
    return web.json_response(bodies.details(device, _sim(request).fleet))


async def get_lost_mode(request: web.Request) -> web.Response:
    """``GET .../details/lostmode``: 400 ``["Device is not in lost mode."]`` when off."""
    device = _device(request)
    if device is None:
        return _not_found()
    body = bodies.lost_mode_body(device)
    if body is None:
        return web.json_response(["Device is not in lost mode."], status=400)
    return web.json_response(body)


async def cancel_lost_mode(request: web.Request) -> web.Response:
    """``DELETE .../details/lostmode``: 204."""
    device = _device(request)
    if device is None:
        return _not_found()
    _sim(request).fleet.cancel_lost_mode(device.index)
    return web.Response(status=204)


async def device_status(request: web.Request) -> web.Response:
    """``GET /api/v1/devices/{device_id}/status``."""
    device = _device(request)
    if device is None:
        return _not_found()
    fleet = _sim(request).fleet
    body = bodies.device_status_body(
        device, fleet.device_items(device.index), fleet.device_parameters(device.index)
    )
    return web.json_response(body)


async def device_library_items(request: web.Request) -> web.Response:
    """``GET /api/v1/devices/{device_id}/library-items``."""
    device = _device(request)
    if device is None:
        return _not_found()
    states = _sim(request).fleet.device_items(device.index)
    return web.json_response(bodies.device_library_items_body(device, states))


async def device_parameters(request: web.Request) -> web.Response:
    """``GET /api/v1/devices/{device_id}/parameters``."""
    device = _device(request)
    if device is None:
        return _not_found()
    params = _sim(request).fleet.device_parameters(device.index)
    return web.json_response(bodies.device_parameters_body(device, params))


async def device_apps(request: web.Request) -> web.Response:
    """``GET /api/v1/devices/{device_id}/apps``."""
    device = _device(request)
    if device is None:
        return _not_found()
    return web.json_response(bodies.apps_body(device))


async def device_activity(request: web.Request) -> web.Response:
    """``GET /api/v1/devices/{device_id}/activity``: a DRF page under ``activity``."""
    device = _device(request)
    if device is None:
        return _not_found()
    events = _sim(request).fleet.activity(device.index)
    limit, offset = _limit_offset(request)
    results = [bodies.activity_entry(device, e) for e in events[offset : offset + limit]]
    page = _page(request, len(events), results, limit, offset)
    return web.json_response({"device_id": device.id, "activity": page})


async def device_commands(request: web.Request) -> web.Response:
    """``GET /api/v1/devices/{device_id}/commands``: a DRF page under ``commands``."""
    device = _device(request)
    if device is None:
        return _not_found()
    commands = _sim(request).fleet.commands(device.index)
    limit, offset = _limit_offset(request)
    results = [bodies.command_entry(c) for c in commands[offset : offset + limit]]
    page = _page(request, len(commands), results, limit, offset)
    return web.json_response({"device_id": device.id, "commands": page})


async def device_action(request: web.Request) -> web.Response:
    """``POST /api/v1/devices/{device_id}/action/{action}``: 200 with an empty body
    (``lock`` answers ``{"PIN": ...}`` for a Mac)."""
    action = request.match_info["action"]
    if action not in DEVICE_ACTIONS:
        return web.Response(text=HTML_NOT_FOUND, status=404, content_type="text/html")
    device = _device(request)
    if device is None:
        return _not_found()
    payload: Any = None
    raw = await request.read()
    if raw:
        try:
            payload = json.loads(raw)
        except ValueError as exc:
            return web.json_response({"detail": f"JSON parse error - {exc}"}, status=400)
    try:
        result = _sim(request).fleet.perform_action(
            device.index, action, payload if isinstance(payload, dict) else None
        )
    except ValueError as exc:
        # lock answers a bare JSON string; other refusals use DRF's list of messages.
        message = str(exc)
        return web.json_response(message if action == "lock" else [message], status=400)
    if result is None:
        return web.Response(status=200, headers={"Allow": "POST"})
    return web.json_response(result, headers={"Allow": "POST"})


# --- blueprints, library items, tags --------------------------------------------------------


async def list_blueprints(request: web.Request) -> web.Response:
    """``GET /api/v1/blueprints``: filters ``id``, ``id__in``, ``name`` (contains)."""
    fleet = _sim(request).fleet
    q = request.query
    hidden = _sim(request).unlisted_blueprints
    chosen = [bp for bp in fleet.blueprints if bp.id not in hidden]
    if "id" in q:
        chosen = [bp for bp in chosen if bp.id == q["id"]]
    if "id__in" in q:
        ids = set(q["id__in"].split(","))
        chosen = [bp for bp in chosen if bp.id in ids]
    if "name" in q:
        chosen = [bp for bp in chosen if q["name"].lower() in bp.name.lower()]
    limit, offset = _limit_offset(request)
    results = [bodies.blueprint_object(bp, fleet) for bp in chosen[offset : offset + limit]]
    return web.json_response(_page(request, len(chosen), results, limit, offset))


async def get_blueprint(request: web.Request) -> web.Response:
    """``GET /api/v1/blueprints/{blueprint_id}``."""
    fleet = _sim(request).fleet
    bp = fleet.blueprint(request.match_info["blueprint_id"])
    if bp is None:
        return _not_found()
    return web.json_response(bodies.blueprint_object(bp, fleet))


async def blueprint_library_items(request: web.Request) -> web.Response:
    """``GET /api/v1/blueprints/{blueprint_id}/list-library-items``."""
    fleet = _sim(request).fleet
    bp = fleet.blueprint(request.match_info["blueprint_id"])
    if bp is None:
        return _not_found()
    items = [fleet.items[j] for j in bp.item_indices]
    limit, offset = _limit_offset(request)
    results = [bodies.library_item_ref(it) for it in items[offset : offset + limit]]
    return web.json_response(_page(request, len(items), results, limit, offset))


async def library_item_status(request: web.Request) -> web.Response:
    """``GET /api/v1/library/library-items/{library_item_id}/status``: one item on
    every device in scope; ``computer_id`` narrows it to one device."""
    fleet = _sim(request).fleet
    item = fleet.item(request.match_info["library_item_id"])
    if item is None:
        return _not_found()
    scope: Sequence[int] = fleet.item_scope(item)
    computer = request.query.get("computer_id")
    if computer is not None:
        index = fleet.device_index(computer)
        scope = [index] if index is not None and index in set(scope) else []
    limit, offset = _limit_offset(request)
    results = []
    for i in scope[offset : offset + limit]:
        results.append(bodies.item_status_row(fleet.device(i), fleet.item_state(i, item)))
    return web.json_response(_page(request, len(scope), results, limit, offset))


async def list_tags(request: web.Request) -> web.Response:
    """``GET /api/v1/tags``: ``search`` filters by substring."""
    fleet = _sim(request).fleet
    search = request.query.get("search", "")
    tags = [{"id": tid, "name": name} for tid, name in fleet.tags if search in name]
    limit, offset = _limit_offset(request)
    return web.json_response(
        _page(request, len(tags), tags[offset : offset + limit], limit, offset)
    )


async def _html_not_found(request: web.Request) -> web.Response:
    return web.Response(text=HTML_NOT_FOUND, status=404, content_type="text/html")


# --- the app ------------------------------------------------------------------------------------


def _routes() -> list[web.RouteDef]:
    dev = "/api/v1/devices/{device_id}"
    return [
        web.get("/api/v1/devices", list_devices),
        web.get(dev, get_device),
        web.patch(dev, patch_device),
        web.delete(dev, delete_device),
        web.get(f"{dev}/details", device_details),
        web.get(f"{dev}/details/lostmode", get_lost_mode),
        web.delete(f"{dev}/details/lostmode", cancel_lost_mode),
        web.get(f"{dev}/status", device_status),
        web.get(f"{dev}/library-items", device_library_items),
        web.get(f"{dev}/parameters", device_parameters),
        web.get(f"{dev}/apps", device_apps),
        web.get(f"{dev}/activity", device_activity),
        web.get(f"{dev}/commands", device_commands),
        web.post(f"{dev}/action/{{action}}", device_action),
        web.get("/api/v1/blueprints", list_blueprints),
        web.get("/api/v1/blueprints/{blueprint_id}", get_blueprint),
        web.get("/api/v1/blueprints/{blueprint_id}/list-library-items", blueprint_library_items),
        web.get("/api/v1/library/library-items/{library_item_id}/status", library_item_status),
        web.get("/api/v1/tags", list_tags),
    ]


@web.middleware
async def _html_404(request: web.Request, handler: Any) -> web.StreamResponse:
    """Unknown URLs answer Django's HTML 404 page, as the real service does."""
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPNotFound:
        return await _html_not_found(request)
    except web.HTTPMethodNotAllowed:
        return web.json_response({"detail": f'Method "{request.method}" not allowed.'}, status=405)
    return response


def make_kandji_app(sim: KandjiSimulator) -> web.Application:
    """Build the aiohttp application for one simulated tenant.

    The app starts the background evolve task (when ``sim.evolve_every`` is set) and
    plants the demo failures (when ``sim.demo``) on start-up, and stops the task on
    clean-up.
    """
    app = web.Application(middlewares=[*sim.middlewares(sim.authenticate), _html_404])
    app[SIM_KEY] = sim
    app.add_routes(_routes())
    app.cleanup_ctx.append(_lifecycle)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    sim = app[SIM_KEY]
    if sim.demo and sim.demo_plan is None:
        sim.demo_plan = sim.fleet.plant_demo_failures(sim.demo_devices, sim.demo_repair_after)
        if sim.demo_plan is not None:
            log.info(
                "simulator.kandji.demo_planted",
                item=sim.demo_plan.item_name,
                devices=len(sim.demo_plan.device_ids),
                repair_at=sim.demo_plan.repair_at.isoformat(),
            )
    task = asyncio.create_task(sim.evolve_forever()) if sim.evolve_every else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
