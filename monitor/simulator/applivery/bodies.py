"""JSON bodies of the simulated Applivery API: the device, the envelopes, the errors.

Answers use the ``{"status": true, "data": ...}`` envelope; errors are ``{"status":
false, "error": {"code", "message"}}``. No state here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

from aiohttp import web

from monitor.simulator.applivery.fleet import AppliveryFleet, WinDevice, iso_ms

_COMMAND_NOT_FOUND: Final = {
    "isError": True,
    "status": 404,
    "reason": "CommandNotFound",
    "attempts": [],
}



def device_body(d: WinDevice, fleet: AppliveryFleet) -> dict[str, Any]:
    """A Windows device as the list and the get-one answer carry it."""
    config: dict[str, Any] = {
        "./Device/Vendor/MSFT/Policy/Config/Security/RequireDeviceEncryption": "1",
        "./Device/Vendor/MSFT/DevDetail/SwV": d.os_version,
    }
    for node in d.config_errors:
        config[node] = dict(_COMMAND_NOT_FOUND)
    compliance: dict[str, Any] | None = None
    if d.compliant is not None:
        compliance = {"compliant": d.compliant, "lastCheck": iso_ms(d.compliance_checked_at)}
    summary: dict[str, Any] = {
        "name": d.hostname,
        "osVersion": d.os_version,
        "osVersionName": d.os_version_name,
        "os": "Windows",
        "serialNumber": d.serial,
        "imei": d.imei,
        "model": d.model,
        "battery": f"{40 + d.index % 60}%",
        "expirationTimestamp": iso_ms(d.enrolled + timedelta(days=365 * 3)),
        "supervised": True,
        "image": "",
    }
    if compliance is not None:
        summary["compliance"] = compliance
    report = d.last_report
    return {
        "id": d.id,
        "organizationId": fleet.organization_id,
        "winEnterpriseId": fleet.enterprise_id,
        "mdmUser": {"id": d.user_id, "email": d.user_email},
        "displayName": d.display_name,
        "tags": list(d.tags),
        "winId": d.win_id,
        "state": d.state,
        "config": config,
        "configDates": {
            "securityPolicy": iso_ms(report or d.enrolled),
            "applications": iso_ms((report or d.enrolled) - timedelta(hours=3)),
        },
        "customConfig": {},
        "summary": summary,
        "scripts": [],
        "scriptsInfo": [],
        "lastStatusReportTime": iso_ms(report) if report is not None else None,
        "type": "windows",
        "subType": "device",
        "stateHistory": [{"state": s, "date": iso_ms(at)} for s, at in d.history],
        "lastLocation": {},
        "refreshInfoNeeded": list(d.refresh_needed),
        "enrolledDate": iso_ms(d.enrolled),
        "winPolicy": d.policy_id,
        "deviceWinPolicy": {"id": d.policy_id, "name": d.policy_name, "applicationsInfo": []},
        "winPolicyAssignments": [{"winPolicyId": d.policy_id, "priority": 1}],
        "winPolicyAssignmentsEnforced": [],
        "smartAttributeAssignments": [],
        "smartAttributeAssignmentsEnforced": [],
        "smartAttributes": [],
        "lastSyncError": d.sync_error,
        "createdAt": iso_ms(d.enrolled),
        "updatedAt": iso_ms(d.updated),
    }


def ok(data: Any, *, status: int = 200) -> web.Response:
    """``{"status": true, "data": data}``."""
    return web.json_response({"status": True, "data": data}, status=status)


def error(status: int, code: int, message: str) -> web.Response:
    """``{"status": false, "error": {"code", "message"}}``."""
    return web.json_response(
        {"status": False, "error": {"code": code, "message": message}}, status=status
    )


def not_found() -> web.Response:
    return error(404, 3001, "Entity not found")


def invalid(message: str) -> web.Response:
    return error(400, 1001, f"Validation error: {message}")
