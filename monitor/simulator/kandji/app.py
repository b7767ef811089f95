"""A simulated Kandji (Iru) tenant API, served by aiohttp.

Routes (bodies from :mod:`.bodies` and :mod:`.details`, state from :mod:`.fleet`),
following the vendor's API notes:

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
``GET /api/v1/prism/{category}``                            Prism table (:mod:`.prism`)
``GET /api/v1/prism/count``                                 ``{"count", "approximate"}``
``GET /api/v1/audit/events``                                audit feed (:mod:`.audit`)
==========================================================  ===============================

The device routes and their filters are in :mod:`.devices`. Every answer carries the
Kong rate-limit headers of the tenant-wide budget (:mod:`monitor.simulator.limits`).

Errors: ``401 {"detail": ...}`` without a valid bearer token, ``403`` for a route the
token is not granted (:attr:`KandjiSimulator.denied_routes`), ``404 {"detail": "Not
found."}`` for unknown devices, items and blueprints, Django's HTML page for unknown
URLs. Rate limits, faults, latency and the request log come from
:class:`~monitor.simulator.http.HttpSimulator`. Tests reach the simulator through
``app[SIM_KEY]``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import structlog
from aiohttp import web

from monitor.simulator.evolution import in_background
from monitor.simulator.faults import HTML_NOT_FOUND
from monitor.simulator.kandji import bodies
from monitor.simulator.kandji.audit import feed_page
from monitor.simulator.kandji.devices import (
    cancel_lost_mode,
    delete_device,
    device_action,
    device_activity,
    device_apps,
    device_commands,
    device_details,
    device_library_items,
    device_parameters,
    device_status,
    get_device,
    get_lost_mode,
    list_devices,
    patch_device,
)
from monitor.simulator.kandji.paging import drf_page, limit_offset, not_found
from monitor.simulator.kandji.prism import prism_category, prism_count
from monitor.simulator.kandji.simulator import SIM_KEY, KandjiSimulator, sim_of

log = structlog.get_logger(__name__)


# --- blueprints, library items, tags --------------------------------------------------------


async def list_blueprints(request: web.Request) -> web.Response:
    """``GET /api/v1/blueprints``: filters ``id``, ``id__in``, ``name`` (contains)."""
    fleet = sim_of(request).fleet
    q = request.query
    hidden = sim_of(request).unlisted_blueprints
    chosen = [bp for bp in fleet.blueprints if bp.id not in hidden]
    if "id" in q:
        chosen = [bp for bp in chosen if bp.id == q["id"]]
    if "id__in" in q:
        ids = set(q["id__in"].split(","))
        chosen = [bp for bp in chosen if bp.id in ids]
    if "name" in q:
        chosen = [bp for bp in chosen if q["name"].lower() in bp.name.lower()]
    limit, offset = limit_offset(request)
    results = [bodies.blueprint_object(bp, fleet) for bp in chosen[offset : offset + limit]]
    return web.json_response(drf_page(request, len(chosen), results, limit, offset))


async def get_blueprint(request: web.Request) -> web.Response:
    """``GET /api/v1/blueprints/{blueprint_id}``."""
    fleet = sim_of(request).fleet
    bp = fleet.blueprint(request.match_info["blueprint_id"])
    if bp is None:
        return not_found()
    return web.json_response(bodies.blueprint_object(bp, fleet))


async def blueprint_library_items(request: web.Request) -> web.Response:
    """``GET /api/v1/blueprints/{blueprint_id}/list-library-items``."""
    fleet = sim_of(request).fleet
    bp = fleet.blueprint(request.match_info["blueprint_id"])
    if bp is None:
        return not_found()
    items = [fleet.items[j] for j in bp.item_indices]
    limit, offset = limit_offset(request)
    results = [bodies.library_item_ref(it) for it in items[offset : offset + limit]]
    return web.json_response(drf_page(request, len(items), results, limit, offset))


async def library_item_status(request: web.Request) -> web.Response:
    """``GET /api/v1/library/library-items/{library_item_id}/status``: one item on
    every device in scope; ``computer_id`` narrows it to one device."""
    fleet = sim_of(request).fleet
    item = fleet.item(request.match_info["library_item_id"])
    if item is None:
        return not_found()
    scope: Sequence[int] = fleet.item_scope(item)
    computer = request.query.get("computer_id")
    if computer is not None:
        index = fleet.device_index(computer)
        scope = [index] if index is not None and index in set(scope) else []
    limit, offset = limit_offset(request)
    results = []
    for i in scope[offset : offset + limit]:
        results.append(bodies.item_status_row(fleet.device(i), fleet.item_state(i, item)))
    return web.json_response(drf_page(request, len(scope), results, limit, offset))


async def list_tags(request: web.Request) -> web.Response:
    """``GET /api/v1/tags``: ``search`` filters by substring."""
    fleet = sim_of(request).fleet
    search = request.query.get("search", "")
    tags = [{"id": tid, "name": name} for tid, name in fleet.tags if search in name]
    limit, offset = limit_offset(request)
    return web.json_response(
        drf_page(request, len(tags), tags[offset : offset + limit], limit, offset)
    )


async def audit_events(request: web.Request) -> web.Response:
    """``GET /api/v1/audit/events``: the tenant's audit feed (see :mod:`.audit`)."""
    return feed_page(request, sim_of(request).fleet.audit)


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
        web.get("/api/v1/prism/count", prism_count),
        web.get("/api/v1/audit/events", audit_events),
        web.get("/api/v1/prism/{category}", prism_category),
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
    async with in_background(sim.evolve_forever() if sim.evolve_every else None):
        yield
