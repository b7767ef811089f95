"""Prism, the fleet-wide inventory tables of the simulated Kandji API (API-NOTES §5.5).

``GET /api/v1/prism/{category}`` for the categories compliance rules read:
``device_information``, ``filevault``, ``apps``, ``gatekeeper_and_xprotect``,
``application_firewall`` and ``activation_lock``; ``GET /api/v1/prism/count`` counts
the rows of one. Rows carry the common device block and the category's columns, with
the keys of the documented examples (``activation_lock`` rows have the same keys as
``device_information`` rows, as its documented example does).

Query parameters:

- ``blueprint_ids``, ``device_families`` (``Mac``, ``iPhone``, ``iPad``, ``tvOS``):
  comma-separated;
- ``filter``: a JSON object mapping response keys to operators (:mod:`.prism_filter`);
  ``blueprint__id`` and ``device__family`` cannot be filtered, as documented;
- ``sort_by``: a response key, ``-`` for descending (not with a cursor);
- ``limit`` (25 when absent, at most 300) and ``offset``; or the opaque ``cursor`` of
  the previous answer. A cursor names a snapshot of the rows the first page matched,
  so a reader paging with cursors sees neither duplicates nor gaps while the fleet
  changes; ``cursor`` is ``null`` on the last page.

When rows change: a device's rows are collected when it reports, which is checking in,
so ``updated_at`` and ``last_collected_at`` are its last check-in (its enrolment when
it never checked in). ``last_changed_at`` is when a hook last changed something the
row shows (FileVault, Lost Mode, a PATCH), ``null`` otherwise. Apple TVs are listed
with the family ``AppleTV`` (the list's platform name; the docs show no tvOS row).
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from aiohttp import web

from monitor.simulator.kandji import cursors
from monitor.simulator.kandji.bodies import JSON, apps_body
from monitor.simulator.kandji.catalog import APPLETV, IPAD, IPHONE, MAC, MOBILE, PLATFORMS
from monitor.simulator.kandji.fleet import Fleet
from monitor.simulator.kandji.model import SimDevice
from monitor.simulator.kandji.prism_filter import FilterError, RowFilter, parse_filter
from monitor.simulator.kandji.simulator import sim_of

PRISM_PAGE_CAP: Final = 300
"""The documented maximum ``limit``."""

PRISM_DEFAULT_LIMIT: Final = 25
"""The ``limit`` the examples show when none is sent."""

_FAMILY_PARAM: Final = {"Mac": MAC, "iPhone": IPHONE, "iPad": IPAD, "tvOS": APPLETV}
_MAC_ONLY: Final = frozenset({MAC})
_ALL: Final = frozenset(range(len(PLATFORMS)))
_MARKETING: Final = {"13": "Ventura", "14": "Sonoma", "15": "Sequoia", "26": "Tahoe"}


def _ts(dt: datetime | None) -> str | None:
    """``2024-12-10T14:39:34.740791+00:00``, the Prism timestamp shape."""
    return None if dt is None else dt.isoformat(timespec="microseconds")


def _device_block(d: SimDevice, updated: datetime, changed: datetime | None) -> JSON:
    """The columns every category's rows start with."""
    user = d.user
    return {
        "device_id": d.id,
        "device__name": d.name,
        "device__family": d.platform,
        "device__user_id": user.id if user else "",
        "device__user_name": user.name if user else "",
        "device__user_email": user.email if user else "",
        "blueprint_id": d.blueprint.id,
        "blueprint_name": d.blueprint.name,
        "tags": list(d.tags) or None,
        "asset_tag": d.asset_tag,
        "serial_number": d.serial_number,
        "model_id": d.hardware.identifier,
        "count": None,
        "created_at": _ts(d.first_enrollment + timedelta(seconds=4, microseconds=447_554)),
        "updated_at": _ts(updated),
        "last_changed_at": _ts(changed),
        "last_collected_at": _ts(updated),
    }


def _device_information(d: SimDevice) -> list[JSON]:
    mac = d.platform_code == MAC
    agent_at = d.last_check_in if d.agent_installed else None
    return [
        {
            "device_capacity": d.hardware.capacity_gb,
            "host_name": d.hostname if mac else None,
            "local_hostname": f"{d.hostname}.local" if mac else None,
            "apple_silicon": ("Apple" in d.hardware.processor) if mac else None,
            "model": d.hardware.model.split(" (")[0],
            "model_name": d.hardware.model,
            "shared_ipad": False if d.platform_code in MOBILE else None,
            "cellular_technology": "None" if d.platform_code in MOBILE else None,
            "data_roaming": False if d.platform_code in MOBILE else None,
            "hotspot": False if d.platform_code in MOBILE else None,
            "first_enrollment_date": _ts(d.first_enrollment),
            "last_enrollment_date": _ts(d.last_enrollment),
            "agent_version": d.agent_version or None,
            "mdm_enabled": d.mdm_enabled,
            "agent_installed": d.agent_installed if mac else None,
            "os_version": d.os_version,
            "os_build": d.build,
            "marketing_name": _MARKETING.get(d.os_version.split(".")[0]) if mac else None,
            "supplemental_build_version": d.build,
            "supplemental_os_version_extra": None,
            "display_os_version": d.os_version,
            "last_checkin": _ts(d.last_check_in),
            "last_checkin_agent": _ts(agent_at),
            "last_checkin_mdm": _ts(d.mdm_check_in),
            "battery_health": None,
            "lost_mode_status": "ENABLED" if d.lost_mode else None,
        }
    ]


def _filevault(d: SimDevice) -> list[JSON]:
    on = bool(d.filevault_enabled)
    return [
        {
            "status": on,
            "key_type": "personal" if on else None,
            "key_escrowed": on,
            "regeneration_needed": False if on else None,
            "scheduled_key_rotation": None,
        }
    ]


def _gatekeeper(d: SimDevice) -> list[JSON]:
    return [
        {
            "gatekeeper_status": d.dna[5] >= 8,
            "trusted_developers": True,
            "gatekeeper_version": "8.0",
            "gatekeeper_opaque_version": "94",
            "xprotect_version": str(5280 + d.dna[6] % 8),
            "malware_removal_tool_version": "1.93",
        }
    ]


def _firewall(d: SimDevice) -> list[JSON]:
    return [
        {
            "status": d.dna[7] >= 20,
            "block_all_incoming": False,
            "logging": True,
            "logging_option": "throttled",
            "stealth_mode": d.dna[8] < 128,
            "version": "1.7",
            "allow_signed_applications": True,
            "unloading": False,
        }
    ]


def _apps(d: SimDevice) -> list[JSON]:
    rows = []
    for app in apps_body(d)["apps"]:
        mac = d.platform_code == MAC
        rows.append(
            {
                "path": app["path"] or None,
                "obtained_from": app["source"] or None,
                "bundle_size": int(app["bundle_size"]) if app["bundle_size"] else None,
                "bundle_id": app["bundle_id"],
                "name": app["app_name"],
                "short_version": app["version"],
                "signature": app["signature"] or None,
                "ad_hoc_code_signed": None,
                "app_store_vendable": None if mac else False,
                "beta_app": None,
                "device_based_vpp": None if mac else True,
                "download_canceled": None,
                "download_failed": None,
                "download_paused": None,
                "download_waiting": None,
                "dynamic_size": None,
                "external_version_identifier": None,
                "has_update_available": None,
                "installing": None,
                "version": app["version"],
                "app_clip": None,
                "validated": None,
                "executable": app["process"] or None,
                "bundle_name": app["app_name"],
                "bundle_type": "APPL",
                "environment_variables": None,
                "compiler": None,
                "bundle_region": "en",
                "bundle_display_name": None,
                "info": None,
                "minimum_system_version": None,
                "category": None,
                "apple_scriptable": None,
                "copyright": None,
                "developer_name": None,
                "team_id": None,
            }
        )
    return rows


@dataclass(frozen=True, slots=True)
class Category:
    """One Prism table: who has rows in it and how a device's rows read."""

    name: str
    platforms: frozenset[int]
    #: The category's own columns of each of a device's rows.
    columns: Callable[[SimDevice], list[JSON]]

    def rows(self, d: SimDevice, updated: datetime, changed: datetime | None) -> list[JSON]:
        """A device's rows: the columns every category starts with, then its own."""
        block = _device_block(d, updated, changed)
        return [{**block, **own} for own in self.columns(d)]


CATEGORIES: Final[dict[str, Category]] = {
    c.name: c
    for c in (
        Category("device_information", _ALL, _device_information),
        Category("filevault", _MAC_ONLY, _filevault),
        Category("apps", frozenset({MAC, *MOBILE}), _apps),
        Category("gatekeeper_and_xprotect", _MAC_ONLY, _gatekeeper),
        Category("application_firewall", _MAC_ONLY, _firewall),
        Category("activation_lock", _ALL, _device_information),
    )
}
"""The simulated Prism categories, by their URL name."""


@dataclass(frozen=True, slots=True)
class PrismQuery:
    """What one read of a category selects (everything but the paging)."""

    category: Category
    blueprints: frozenset[str] | None = None
    families: frozenset[int] | None = None
    row_filter: RowFilter | None = None
    sort_by: str = ""


@dataclass(frozen=True, slots=True)
class PrismSnapshot:
    query: PrismQuery
    devices: array[int]  # the candidate devices, fixed at the first page


def _encode_cursor(snapshot: str, position: int, skip: int) -> str:
    return cursors.encode(snapshot, position, skip)


def _decode_cursor(cursor: str) -> tuple[str, int, int] | None:
    parts = cursors.decode(cursor, 3)
    if parts is None or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return parts[0], int(parts[1]), int(parts[2])


def _bad(detail: str) -> web.Response:
    return web.json_response({"detail": detail}, status=400)


def _csv(request: web.Request, name: str) -> list[str] | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    return [v.strip() for v in raw.split(",")[:1000] if v.strip()]


def _parse_query(request: web.Request, category: Category) -> PrismQuery | web.Response:
    blueprints = _csv(request, "blueprint_ids")
    families_raw = _csv(request, "device_families")
    families: frozenset[int] | None = None
    if families_raw is not None:
        unknown = [f for f in families_raw if f not in _FAMILY_PARAM]
        if unknown:
            return _bad(f"Invalid device family: {unknown[0][:40]}")
        families = frozenset(_FAMILY_PARAM[f] for f in families_raw)
    row_filter = None
    raw_filter = request.query.get("filter")
    if raw_filter:
        try:
            row_filter = parse_filter(raw_filter)
        except FilterError as exc:
            return _bad(str(exc))
    return PrismQuery(
        category,
        frozenset(blueprints) if blueprints is not None else None,
        families,
        row_filter,
        request.query.get("sort_by", "")[:100],
    )


def candidates(fleet: Fleet, query: PrismQuery) -> array[int]:
    """The live devices whose rows the query may select, in listing order; decided
    without building a row (platform, blueprint, and ``updated_at`` lower bound)."""
    platforms = query.category.platforms
    if query.families is not None:
        platforms = platforms & query.families
    since = query.row_filter.updated_since() if query.row_filter is not None else None
    since_ts = since.timestamp() if since is not None else None
    chosen = array("I")
    for i in fleet.device_indices():
        if fleet.platform_code_of(i) not in platforms:
            continue
        if query.blueprints is not None and fleet.blueprint_of(i).id not in query.blueprints:
            continue
        if since_ts is not None and fleet.updated_ts(i) < since_ts:
            continue
        chosen.append(i)
    return chosen


def device_rows(fleet: Fleet, query: PrismQuery, i: int) -> list[JSON]:
    """The rows of device ``i`` the query selects."""
    device = fleet.device(i)
    rows = query.category.rows(device, fleet.updated_at(i), fleet.changed_at(i))
    if query.row_filter is None:
        return rows
    return [row for row in rows if query.row_filter.matches(row)]


def all_rows(fleet: Fleet, query: PrismQuery) -> list[JSON]:
    """Every row the query selects, sorted as it asks (the offset path)."""
    rows = [row for i in candidates(fleet, query) for row in device_rows(fleet, query, i)]
    if query.sort_by:
        key = query.sort_by.lstrip("-")
        if rows and key not in rows[0]:
            raise FilterError(f"Invalid sort_by: {key[:40]}")
        rows.sort(key=lambda r: (r[key] is None, str(r[key])), reverse=query.sort_by[0] == "-")
    return rows


def _walk(
    fleet: Fleet, snapshot: PrismSnapshot, position: int, skip: int, limit: int
) -> tuple[list[JSON], int, int]:
    """Up to ``limit`` rows from device ``position`` of the snapshot, its first ``skip``
    rows skipped; returns the rows and where the next page starts."""
    page: list[JSON] = []
    devices = snapshot.devices
    while position < len(devices) and len(page) < limit:
        rows = device_rows(fleet, snapshot.query, devices[position])[skip:]
        room = limit - len(page)
        page.extend(rows[:room])
        if len(rows) > room:
            return page, position, skip + room
        position, skip = position + 1, 0
    return page, position, 0


def _int(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or not raw.isdigit() or len(raw) > 9:
        return None
    return int(raw)


async def prism_category(request: web.Request) -> web.Response:
    """``GET /api/v1/prism/{category}``: ``{"offset", "limit", "total", "data", "cursor"}``.

    With ``offset`` (or ``sort_by``) the rows are counted and sliced, and ``total`` is
    their number; otherwise (the cursor path) pages are walked device by device from a
    snapshot, and ``total`` is ``null``, as the documentation allows."""
    sim = sim_of(request)
    fleet = sim.fleet
    category = CATEGORIES.get(request.match_info["category"])
    if category is None:
        return web.json_response({"detail": "Not found."}, status=404)
    limit = min(_int(request, "limit") or PRISM_DEFAULT_LIMIT, PRISM_PAGE_CAP)
    offset = _int(request, "offset")
    cursor = request.query.get("cursor")
    if cursor:
        decoded = _decode_cursor(cursor)
        snapshot = sim.prism_snapshots.get(decoded[0]) if decoded is not None else None
        if decoded is None or snapshot is None:
            return _bad("Invalid cursor")
        key, position, skip = decoded
        page, position, skip = _walk(fleet, snapshot, position, skip, limit)
        more = position < len(snapshot.devices)
        next_cursor = _encode_cursor(key, position, skip) if more else None
        return _answer(None, limit, None, page, next_cursor)
    query = _parse_query(request, category)
    if isinstance(query, web.Response):
        return query
    try:
        if offset is not None or query.sort_by:
            rows = all_rows(fleet, query)
            start = offset or 0
            return _answer(offset, limit, len(rows), rows[start : start + limit], None)
        snapshot = PrismSnapshot(query, candidates(fleet, query))
        page, position, skip = _walk(fleet, snapshot, 0, 0, limit)
    except FilterError as exc:
        return _bad(str(exc))
    more = position < len(snapshot.devices)
    next_cursor = None
    if more:
        next_cursor = _encode_cursor(sim.prism_snapshots.keep(snapshot), position, skip)
    return _answer(None, limit, None, page, next_cursor)


def _answer(
    offset: int | None, limit: int, total: int | None, data: list[JSON], cursor: str | None
) -> web.Response:
    return web.json_response(
        {"offset": offset, "limit": limit, "total": total, "data": data, "cursor": cursor}
    )


async def prism_count(request: web.Request) -> web.Response:
    """``GET /api/v1/prism/count?category=<name>``: ``{"count", "approximate"}``."""
    fleet = sim_of(request).fleet
    category = CATEGORIES.get(request.query.get("category", ""))
    if category is None:
        return _bad(f"Invalid category: {request.query.get('category', '')[:40]}")
    query = PrismQuery(category)
    if category.name == "apps":
        count = sum(len(device_rows(fleet, query, i)) for i in candidates(fleet, query))
    else:
        count = len(candidates(fleet, query))
    return web.json_response({"count": count, "approximate": False})


def filter_json(spec: dict[str, Any]) -> str:
    """A filter object as the ``filter`` query parameter carries it."""
    return json.dumps(spec, separators=(",", ":"))
