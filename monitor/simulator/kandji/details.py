"""The ``GET /devices/{id}/details`` body of the simulated Kandji API.

Shaped like the documented examples for a Mac, an iPhone or iPad (with and without Lost
Mode) and an Apple TV: string booleans (``"True"``), three timestamp formats, ``{}`` for
sections that do not apply to the platform. No I/O here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from monitor.simulator.kandji.bodies import (
    JSON,
    iso_z,
    lost_mode_object,
    opt_ts,
    profile_date,
    space_offset,
    tf,
    user_object,
)
from monitor.simulator.kandji.catalog import APPLETV, MAC, MOBILE
from monitor.simulator.kandji.fleet import Fleet
from monitor.simulator.kandji.model import SimDevice


def details(d: SimDevice, fleet: Fleet) -> JSON:
    """``GET /devices/{id}/details`` for an Apple device (Mac, iPhone, iPad, Apple TV)."""
    mac = d.platform_code == MAC
    tv = d.platform_code == APPLETV
    mobile = d.platform_code in MOBILE
    body: JSON = {
        "general": {
            "device_id": d.id,
            "device_name": d.name,
            "last_enrollment": space_offset(d.last_enrollment),
            "first_enrollment": space_offset(d.first_enrollment),
            "model": d.hardware.model,
            "platform": d.platform,
            "os_version": d.os_version,
            "supplemental_build_version": d.build,
            "supplemental_os_version_extra": "",
            "system_version": f"{d.os_version} ({d.build})" if mac else "",
            "boot_volume": "Macintosh HD" if mac else "",
            "time_since_boot": _time_since(d.boot_time, fleet.now()) if mac else "",
            "last_user": d.local_username if mac else "",
            "asset_tag": d.asset_tag,
            "assigned_user": user_object(d.user),
            "blueprint_name": d.blueprint.name,
            "blueprint_uuid": d.blueprint.id,
        },
        "mdm": _mdm_block(d, tv),
        "activation_lock": {
            "bypass_code_failed": False,
            "user_activation_lock_enabled": None if tv else False,
            "device_activation_lock_enabled": False,
            "activation_lock_allowed_while_supervised": None if tv else False,
            "activation_lock_supported": not tv,
        },
        "filevault": {
            "filevault_enabled": d.filevault_enabled,
            "filevault_recoverykey_type": "",
            "filevault_prk_escrowed": bool(d.filevault_enabled),
            "filevault_next_rotation": "",
            "filevault_regen_required": False,
        },
    }
    if not tv:
        body["lost_mode"] = lost_mode_object(d.lost_mode) if d.lost_mode else {}
    body["automated_device_enrollment"] = (
        {"auto_enroll_eligible": True, "auto_enrolled": True} if d.ade and not mac else {}
    )
    body["kandji_agent"] = {
        "agent_installed": tf(d.agent_installed),
        "install_date": opt_ts(space_offset, d.agent_install_date),
        "last_check_in": opt_ts(iso_z, d.last_check_in),
        "agent_version": d.agent_version,
    }
    body["hardware_overview"] = _hardware(d)
    body["volumes"] = _volumes(d)
    body["network"] = (
        {}
        if tv
        else {
            "local_hostname": d.hostname if mac else "",
            "mac_address": d.mac_address,
            "ip_address": d.ip_address if mac else "",
            "public_ip": "",
        }
    )
    recovery: JSON = {
        "recovery_lock_enabled": d.recovery_lock if mac else False,
        "firmware_password_exist": False,
        "firmware_password_pending": False,
        "password_rotation_scheduled": (
            iso_z(d.first_enrollment + timedelta(days=200)) if mac and d.recovery_lock else None
        ),
    }
    if not tv:
        recovery["password_has_been_set"] = mac and d.recovery_lock
    body["recovery_information"] = recovery
    body["users"] = _users(d) if mac else {"regular_users": [], "system_users": []}
    body["installed_profiles"] = _installed_profiles(d, fleet) if mac else []
    body["apple_business_manager"] = _abm(d) if d.ade and not mac else {}
    body["security_information"] = {"remote_desktop_enabled": d.remote_desktop if mac else None}
    if not tv:
        body["cellular"] = (
            {
                "voice_roaming": False,
                "data_roaming": False,
                "cellular_technology": 0,
                "subscriptions": None,
            }
            if mobile
            else {}
        )
    body["tags"] = list(d.tags)
    return body


def _mdm_block(d: SimDevice, tv: bool) -> JSON:
    block: JSON = {"mdm_enabled": tf(d.mdm_enabled)}
    if not tv:  # the Apple TV example has no "supervised"
        block["supervised"] = "True"
    block["install_date"] = space_offset(d.last_enrollment - timedelta(microseconds=183_411))
    block["last_check_in"] = opt_ts(space_offset, d.mdm_check_in)
    block["mdm_enabled_user"] = [d.local_username] if d.platform_code == MAC else []
    return block


def _time_since(then: datetime, now: datetime) -> str:
    days = (now - then).days
    if days >= 30:
        return "1 month ago"
    if days >= 1:
        return f"{days} day{'s' if days > 1 else ''} ago"
    return "today"


def _hardware(d: SimDevice) -> JSON:
    hw = d.hardware
    if d.platform_code != MAC:
        return {
            "uuid": d.udid.replace("-", "")[:24] if d.platform_code != APPLETV else d.udid,
            "serial_number": d.serial_number,
            "model_identifier": hw.identifier,
        }
    return {
        "model_name": hw.model.split(" (")[0],
        "model_identifier": hw.identifier,
        "processor_name": hw.processor,
        "processor_speed": "",
        "number_of_processors": str(hw.cores),
        "total_number_of_cores": str(hw.cores),
        "memory": hw.memory,
        "udid": d.udid,
        "serial_number": d.serial_number,
    }


def _volumes(d: SimDevice) -> list[JSON]:
    if d.platform_code == APPLETV:
        return []
    capacity = d.hardware.capacity_gb
    used = 8 + d.dna[19] % 70
    available = capacity * (100 - used) / 100
    if d.platform_code != MAC:
        return [
            {
                "name": "",
                "format": "",
                "percent_used": f"{used}%",
                "identifier": "",
                "capacity": f"{capacity:.1f} GB",
                "available": f"{available:.2f} GB",
                "encrypted": "",
            }
        ]
    common = {
        "format": "APFS",
        "percent_used": f"{used}%",
        "capacity": f"{capacity:.2f} GB",
        "available": f"{available:.2f} GB",
    }
    system = {"name": "Macintosh HD", **common, "identifier": "disk3s3s1", "encrypted": "No"}
    data = {"name": "Macintosh HD - Data", **common, "identifier": "disk3s1"}
    data["encrypted"] = "Yes" if d.filevault_enabled else "No"
    order = ("name", "format", "percent_used", "identifier", "capacity", "available", "encrypted")
    return [{k: v[k] for k in order} for v in (system, data)]


def _users(d: SimDevice) -> JSON:
    return {
        "regular_users": [
            {
                "username": d.local_username,
                "uid": "501",
                "path": f"/Users/{d.local_username}",
                "admin": "Yes" if d.dna[20] < 100 else "No",
                "name": d.user.name if d.user else "",
            }
        ],
        "system_users": [
            {"username": name, "uid": uid, "path": path, "admin": "No"}
            for name, uid, path in (
                ("_lp", "26", "/var/spool/cups"),
                ("_ard", "67", "/var/empty"),
                ("_mdnsresponder", "65", "/var/empty"),
            )
        ],
    }


def _installed_profiles(d: SimDevice, fleet: Fleet) -> list[JSON]:
    installed = d.first_enrollment + timedelta(seconds=3)
    profiles = [
        {
            "name": "MDM Profile",
            "uuid": d.udid[:8] + "-88f4-41c5-b3c1-e6da3f0f592d",
            "verified": "verified",
            "identifier": "com.kandji.profile.mdmprofile",
            "organization": "Kandji, Inc.",
            "payload_types": ["com.apple.mdm", "com.apple.security.scep"],
            "install_date": profile_date(installed),
        }
    ]
    for state in fleet.device_items(d.index):
        if state.item.is_profile and state.status == "success":
            profiles.append(
                {
                    "name": state.item.name,
                    "uuid": state.item.id,
                    "verified": "verified",
                    "identifier": state.item.identifier,
                    "organization": "Example Corp.",
                    "payload_types": [state.item.identifier],
                    "install_date": profile_date(installed + timedelta(minutes=5)),
                }
            )
    return profiles


def _abm(d: SimDevice) -> JSON:
    family = "iPad" if d.platform == "iPad" else "iPhone"
    return {
        "model": d.hardware.model.split(" (")[0],
        "color": "SILVER",
        "description": f"{d.hardware.model.upper()} {int(d.hardware.capacity_gb)}GB SILVER",
        "serial_number": d.serial_number,
        "device_family": family,
        "os": "iPadOS" if family == "iPad" else "iOS",
        "device_assigned_date": str(
            (d.first_enrollment - timedelta(days=3)).replace(microsecond=0)
        ),
        "device_assigned_by": "it-admin@example.com",
    }
