"""JSON bodies of the simulated Kandji API, shaped like the documented examples.

Every function here turns fleet state (:mod:`monitor.simulator.kandji.fleet`) into the
body one endpoint returns, with the keys, nesting, key order and value formats of the
vendor's saved examples (API-NOTES §2.5, §4 and §5; the tests compare them key by key):
``""`` for an unassigned user, three timestamp formats, ``{}`` for sections that do not
apply, and so on. The device details body is in :mod:`.details`. No I/O here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from monitor.simulator.kandji import catalog
from monitor.simulator.kandji.catalog import MAC, MOBILE
from monitor.simulator.kandji.fleet import Fleet
from monitor.simulator.kandji.model import (
    ActivityEvent,
    Blueprint,
    Command,
    ItemState,
    LibraryItem,
    LostMode,
    ParameterState,
    SimDevice,
    SimUser,
)

JSON = dict[str, Any]

# --- timestamp formats (API-NOTES §2.5) -------------------------------------------------


def iso_z(dt: datetime) -> str:
    """``2024-07-23T14:11:37.150080Z``: check-ins, activity, lost mode."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_z_seconds(dt: datetime) -> str:
    """``2021-05-11T19:45:19Z``: library item ``reported_at``."""
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def space_offset(dt: datetime) -> str:
    """``2024-01-26 16:15:36.087016+00:00``: enrolment and the details ``mdm`` block
    (Python's ``str(datetime)``; whole seconds drop the fraction, as Kandji's do)."""
    return str(dt)


def profile_date(dt: datetime) -> str:
    """``2024-05-13 20:09:23 +0000``: installed profiles in details."""
    return dt.strftime("%Y-%m-%d %H:%M:%S +0000")


def opt_ts(fmt: Any, dt: datetime | None) -> str:
    return "" if dt is None else str(fmt(dt))


# --- devices ----------------------------------------------------------------------------


def user_object(user: SimUser | None) -> JSON | str:
    """A device's ``user``: the object, or ``""`` when nobody is assigned."""
    if user is None:
        return ""
    return {"email": user.email, "name": user.name, "id": user.id, "is_archived": user.is_archived}


def device_record(d: SimDevice) -> JSON:
    """One element of ``GET /devices`` (also ``GET``/``PATCH /devices/{id}``)."""
    return {
        "device_id": d.id,
        "device_name": d.name,
        "model": d.hardware.model,
        "serial_number": d.serial_number,
        "platform": d.platform,
        "os_version": d.os_version,
        "supplemental_build_version": d.build,
        "supplemental_os_version_extra": "",
        "last_check_in": opt_ts(iso_z, d.last_check_in),
        "user": user_object(d.user),
        "asset_tag": d.asset_tag,
        "blueprint_id": d.blueprint.id,
        "mdm_enabled": d.mdm_enabled,
        "agent_installed": d.agent_installed,
        "is_missing": d.is_missing,
        "is_removed": d.is_removed,
        "agent_version": d.agent_version,
        "first_enrollment": space_offset(d.first_enrollment),
        "last_enrollment": space_offset(d.last_enrollment),
        "blueprint_name": d.blueprint.name,
        "lost_mode_status": "ENABLED" if d.lost_mode else "",
        "tags": list(d.tags),
    }


def tf(value: bool) -> str:
    return "True" if value else "False"


def lost_mode_object(lost: LostMode) -> JSON:
    return {
        "lost_mode_status": "ENABLED",
        "enabled_by": lost.enabled_by,
        "enable_status_at": iso_z(lost.enabled_at),
        "lock_screen_message": lost.message,
        "lock_screen_phone_number": lost.phone,
        "lock_screen_footnote": lost.footnote,
        "disable_status": "",
        "disabled_by": "",
        "disable_status_at": "",
        "last_location_status": "SUCCESS",
        "last_location_status_at": iso_z(lost.located_at + timedelta(microseconds=10_313)),
        "last_location": {"latitude": lost.latitude, "longitude": lost.longitude},
        "last_location_at": iso_z(lost.located_at),
        "sound_status": "SUCCESS" if lost.sound_at else "",
        "sound_status_at": opt_ts(iso_z, lost.sound_at),
    }


def lost_mode_body(d: SimDevice) -> JSON | None:
    """``GET /devices/{id}/details/lostmode``; None when Lost Mode is off (a 400)."""
    if d.lost_mode is None:
        return None
    return {"device_id": d.id, "lost_mode": lost_mode_object(d.lost_mode)}




# --- library items and parameters -------------------------------------------------------

_EDR = {
    "status": "enabled",
    "malware_posture": "Protect",
    "pup_posture": "Protect",
}


def _item_logs(item: LibraryItem, state: ItemState) -> tuple[str | None, str | None]:
    """``(log, last_audit_log)`` for an item state, phrased per item type."""
    status = state.status
    name = item.name
    if status in ("PENDING", "pending") or state.reported_at is None:
        return (None, None)
    if item.is_profile:
        audit = {
            "success": "The profile is installed.",
            "failed": "The profile could not be installed: the device rejected a payload.",
        }.get(status, "The profile installation has been started.")
        return ("", audit)
    if status == "INCOMPATIBLE":
        return (None, f"{name} is not compatible with this device.")
    if status == "EXCLUDED":
        return (None, f"{name} is excluded by assignment rules.")
    if status == "AVAILABLE":
        return (None, f"{name} is available in Self Service.")
    if item.type == "custom-script":
        if status == "ERROR":
            return (f"Executing {name}...\nExit code: 1\nScript results:\nstep failed", None)
        return (f"Executing {name}...\nExit code: 0", None)
    if item.type in ("automatic-app", "custom-app", "vpp-app"):
        if status == "ERROR":
            return (
                f"Downloading {name}\nInstalling {name}\nInstallation failed: package not valid.",
                f"Executing audit script...\n{name} is not installed.",
            )
        return (
            f"Downloading {name}\nDownload finished.\nInstalling {name}\nInstall finished.",
            f"{name} is installed and meets the enforced version.",
        )
    if item.type == "macos-release":
        if status == "ERROR":
            return (
                "Downloading update\nUpdate failed to install.",
                "The enforced version is not met.",
            )
        return ("", "The installed macOS version meets the enforced version.")
    if status == "ERROR":
        return (f"{name}: audit failed.", f"{name}: audit failed.")
    return (f"{name}: audit passed.", None)


def _status_row_common(state: ItemState) -> JSON:
    log, audit = _item_logs(state.item, state)
    reported = state.reported_at
    return {
        "status": state.status,
        "reported_at": opt_ts(iso_z_seconds, reported) or None,
        "log": log,
        "last_audit_run": iso_z(reported) if reported and audit is not None else None,
        "last_audit_log": audit,
        "control_log": None,
        "control_reported_at": None,
    }


def _edr_status(d: SimDevice, state: ItemState) -> JSON | None:
    if state.reported_at is None:
        return None
    last = state.reported_at - timedelta(days=d.dna[21] % 20)
    return {
        **_EDR,
        "last_baseline_scan": _human(last),
        "next_baseline_scan": _human(last + timedelta(days=28)),
        "baseline_scan_runtime": (
            f"Avert checked {200_000 + d.index % 150_000:,} files in 3 minutes."
        ),
    }


def _human(dt: datetime) -> str:
    hour = dt.hour % 12 or 12
    return f"{dt:%b} {dt.day}, {dt.year} at {hour}:{dt:%M:%S} {'AM' if dt.hour < 12 else 'PM'}"


def device_library_item(d: SimDevice, state: ItemState) -> JSON:
    """One element of ``GET /devices/{id}/library-items``."""
    common = _status_row_common(state)
    row: JSON = {"id": state.row_id, **common}
    row["item_id"] = state.item.id
    row["name"] = state.item.name
    row["type"] = state.item.type
    row["computer"] = {"id": d.id, "name": d.name}
    row["blueprint"] = {"id": d.blueprint.id, "name": d.blueprint.name}
    row["rules_present"] = state.item.rules_present
    if state.item.type == "threat-security-policy":
        row["edr_status"] = _edr_status(d, state)
    return row


def device_library_items_body(d: SimDevice, states: list[ItemState]) -> JSON:
    """``GET /devices/{id}/library-items``."""
    return {"device_id": d.id, "library_items": [device_library_item(d, s) for s in states]}


def status_library_item(state: ItemState) -> JSON:
    """One element of ``library_items`` in ``GET /devices/{id}/status``."""
    log, audit = _item_logs(state.item, state)
    return {
        "id": state.row_id,
        "item_id": state.item.id,
        "name": state.item.name,
        "status": state.status,
        "reported_at": opt_ts(iso_z_seconds, state.reported_at) or None,
        "type": state.item.type,
        "last_audit_log": audit,
        "log": log,
    }


def parameter_row(state: ParameterState) -> JSON:
    """One element of ``parameters`` (``/status`` and ``/parameters``)."""
    p = state.parameter
    return {
        "status": state.status,
        "item_id": p.id,
        "name": p.name,
        "category": p.category,
        "subcategory": p.subcategory,
    }


def device_status_body(d: SimDevice, items: list[ItemState], params: list[ParameterState]) -> JSON:
    """``GET /devices/{id}/status``."""
    return {
        "device_id": d.id,
        "library_items": [status_library_item(s) for s in items],
        "parameters": [parameter_row(p) for p in params],
    }


def device_parameters_body(d: SimDevice, params: list[ParameterState]) -> JSON:
    """``GET /devices/{id}/parameters`` (an empty list for non-Macs)."""
    return {"device_id": d.id, "parameters": [parameter_row(p) for p in params]}


def item_status_row(d: SimDevice, state: ItemState) -> JSON:
    """One result of ``GET /library/library-items/{id}/status``."""
    row: JSON = {
        "id": state.row_id,
        "blueprint": {"id": d.blueprint.id, "name": d.blueprint.name},
        "computer": {"id": d.id, "name": d.name},
        **_status_row_common(state),
    }
    if state.item.type == "threat-security-policy":
        row["edr_status"] = _edr_status(d, state)
        row["type"] = state.item.type
    return row


# --- apps -------------------------------------------------------------------------------


def apps_body(d: SimDevice) -> JSON:
    """``GET /devices/{id}/apps``: the whole inventory in one response."""
    apps: list[JSON] = []
    base = int.from_bytes(d.dna[0:3], "big") % 90_000 + 10_000
    if d.platform_code == MAC:
        chosen = list(catalog.MAC_SYSTEM_APPS)
        chosen += [
            app
            for k, app in enumerate(catalog.MAC_THIRD_PARTY_APPS)
            if (d.dna[k % 64] >> (k % 7)) & 1
        ]
        created = d.first_enrollment + timedelta(minutes=20)
        for k, app in enumerate(chosen):
            stamp = created + timedelta(microseconds=67 * k)
            apps.append(
                {
                    "app_id": str(base + k),
                    "app_name": app.name,
                    "bundle_id": app.bundle_id,
                    "bundle_size": str(1 + (d.dna[k % 64] * (k + 1)) % 900_000_000),
                    "app_store_vendable": "",
                    "device_based_vpp": "",
                    "source": app.source,
                    "process": app.name,
                    "signature": _signature(app.source),
                    "creation_date": iso_z(stamp),
                    "modification_date": iso_z(stamp + timedelta(microseconds=4)),
                    "path": app.path,
                    "version": app.version,
                }
            )
    elif d.platform_code in MOBILE:
        for k, app in enumerate(catalog.MOBILE_APPS):
            if k and not (d.dna[k + 20] & 1):
                continue
            apps.append(
                {
                    "app_id": str(base + k),
                    "app_name": app.name,
                    "bundle_id": app.bundle_id,
                    "bundle_size": str(40_000_000 + d.dna[k] * 100_000),
                    "app_store_vendable": "False",
                    "device_based_vpp": "True",
                    "source": "",
                    "process": "",
                    "signature": "",
                    "creation_date": "",
                    "modification_date": "",
                    "path": "",
                    "version": app.version,
                }
            )
    return {"device_id": d.id, "apps": apps}


def _signature(source: str) -> str:
    if source == "Apple":
        return "Software Signing, Apple Code Signing Certification Authority, Apple Root CA"
    return "Developer ID Application, Developer ID Certification Authority, Apple Root CA"


# --- activity and commands --------------------------------------------------------------


def _ref(bp: Blueprint | None) -> JSON | None:
    return None if bp is None else {"id": bp.id, "name": bp.name, "is_removed": False}


def activity_entry(d: SimDevice, event: ActivityEvent) -> JSON:
    """One result of ``GET /devices/{id}/activity`` (the newest documented shape)."""
    return {
        "id": event.id,
        "created_at": iso_z(event.created_at),
        "action_type": event.action_type,
        "details": event.details,
        "computer": {"id": d.id, "name": d.name, "is_removed": d.is_removed},
        "blueprint": _ref(event.blueprint),
        "user": None,
        "external_token": None,
        "blueprint_routing": False,
    }


def command_entry(cmd: Command) -> JSON:
    """One result of ``GET /devices/{id}/commands``."""
    return {
        "uuid": cmd.uuid,
        "error_chain": list(cmd.error_chain),
        "command_type": cmd.command_type,
        "request_type": cmd.request_type,
        "metadata": {},
        "request_requires_network_tether": False,
        "status": cmd.status,
        "attempts": 1,
        "date_requested": iso_z(cmd.requested_at),
        "date_completed": opt_ts(iso_z, cmd.completed_at) or None,
        "last_pushed": iso_z(cmd.requested_at + timedelta(milliseconds=60)),
        "user": None,
        "priority": 0,
    }


# --- blueprints and tags ----------------------------------------------------------------


def blueprint_object(bp: Blueprint, fleet: Fleet) -> JSON:
    """One blueprint, as in ``GET /blueprints`` and ``GET /blueprints/{id}``."""
    return {
        "id": bp.id,
        "name": bp.name,
        "icon": bp.icon,
        "color": bp.color,
        "description": bp.description,
        "params": {
            fleet.parameters[p].id: {"mute": p in bp.muted_params, "daily": False}
            for p in bp.param_indices
        },
        "computers_count": len(fleet.blueprint_members(bp)),
        "enrollment_code": {"code": bp.enrollment_code, "is_active": True},
        "type": bp.type,
    }


def library_item_ref(item: LibraryItem) -> JSON:
    """One result of ``GET /blueprints/{id}/list-library-items``."""
    return {"id": item.id, "name": item.name}
