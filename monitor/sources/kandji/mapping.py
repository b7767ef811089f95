"""The mapping from Kandji models to the shared vocabulary (:mod:`monitor.models`).

:func:`to_device`, :func:`library_item_subject`, :func:`parameter_subject`,
:func:`app_subject`, :func:`lost_mode_subject` and :func:`library_item_status_row_subject`
turn the models of :mod:`monitor.sources.kandji.models` into
:class:`~monitor.models.Device` and :class:`~monitor.models.Subject`.

A library item seen per device (``/devices/{id}/status``) and the same item seen
fleet-wide (``/library/library-items/{id}/status``) map to the same subject id (the item
UUID) and the same status vocabulary, so findings keep their fingerprint whichever way a
sweep fetched them.
"""

from __future__ import annotations

from typing import Any

from monitor.models import Device, Subject, SubjectKind
from monitor.sources.catalogue import read_fields
from monitor.sources.kandji.config import SOURCE_KIND
from monitor.sources.kandji.details import KDeviceDetails, KLostMode
from monitor.sources.kandji.fields import (
    DETAILS_FIELDS,
    DEVICE_LIST_FIELDS,
    EDR_FIELDS,
    LOST_MODE_FIELDS,
)
from monitor.sources.kandji.models import (
    LOST_MODE_ENABLED,
    KApp,
    KDevice,
    KDeviceLibraryItem,
    KItemRun,
    KLibraryItemStatusRow,
    KParameter,
    is_known_library_item_status,
    is_known_parameter_status,
)

# Configuration profiles report their status in lower case; everything else in upper.
PROFILE_TYPE = "profile"

LOST_MODE_PLATFORMS: frozenset[str] = frozenset({"iPhone", "iPad"})
"""The platforms that have a Lost Mode."""

def _put(attrs: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` unless the value is unknown (None): absent facts stay absent."""
    if value is not None:
        attrs[key] = value


def _all_encrypted(values: list[bool | None]) -> bool | None:
    known = [v for v in values if v is not None]
    if not known:
        return None
    return all(known)


def to_device(
    source_name: str, device: KDevice, details: KDeviceDetails | None = None
) -> Device:
    """A Kandji device record (plus its details, when fetched) as a :class:`Device`.

    Facts rules may use go to ``attrs`` under dotted keys (``mdm.enabled``,
    ``agent.installed``, ``filevault.enabled``, ``lost_mode_status``, ...). Unknown
    values (None) are left out rather than stored as None.
    """
    attrs: dict[str, Any] = {}
    read_fields(attrs, DEVICE_LIST_FIELDS, device)
    _put(attrs, "asset_tag", device.asset_tag)
    attrs["lost_mode_status"] = device.lost_mode_status
    attrs["lost_mode.enabled"] = device.in_lost_mode
    attrs["user.assigned"] = device.user is not None
    if details is not None:
        _details_attrs(attrs, details)
    return Device(
        source=source_name,
        source_kind=SOURCE_KIND,
        device_id=device.device_id,
        name=device.device_name,
        serial=device.serial_number,
        platform=device.platform,
        model=device.model,
        os_version=device.os_version,
        blueprint_id=device.blueprint_id,
        blueprint_name=device.blueprint_name,
        user_email=device.user.email if device.user is not None else "",
        last_check_in=device.last_check_in,
        tags=tuple(device.tags),
        attrs=attrs,
    )


def details_attrs(details: KDeviceDetails) -> dict[str, Any]:
    """The facts ``/details`` adds to a device's ``attrs``: what :func:`to_device` merges
    over the device-list facts (a sweep can keep them and merge them again later)."""
    attrs: dict[str, Any] = {}
    _details_attrs(attrs, details)
    return attrs


def _details_attrs(attrs: dict[str, Any], details: KDeviceDetails) -> None:
    """Flatten the compliance-relevant parts of ``/details`` into ``attrs``."""
    read_fields(attrs, DETAILS_FIELDS, details)
    general, agent, fv = details.general, details.kandji_agent, details.filevault
    # Facts the device list reports too: the details' value, when known, wins.
    _put(attrs, "mdm.enabled", details.mdm.mdm_enabled)
    _put(attrs, "agent.installed", agent.installed)
    _put(attrs, "agent.version", agent.agent_version or agent.version or None)
    # Lost Mode: the details block says whether it is on.
    lost = details.lost_mode
    if lost.lost_mode_status:
        attrs["lost_mode_status"] = lost.lost_mode_status
        attrs["lost_mode.enabled"] = lost.lost_mode_status.upper() == LOST_MODE_ENABLED
    # Volumes, local admins, profiles (Macs).
    if details.volumes:
        _put(attrs, "volumes.all_encrypted", _all_encrypted([v.encrypted for v in details.volumes]))
    regular = details.users.regular_users
    if regular:
        attrs["users.admin_count"] = sum(1 for u in regular if u.admin)
        attrs["users.admins"] = tuple(u.username for u in regular if u.admin)
    if details.installed_profiles:
        attrs["profiles.count"] = len(details.installed_profiles)
        attrs["profiles.identifiers"] = tuple(p.identifier for p in details.installed_profiles)
    _put(attrs, "windows.os_build", general.os_build if general.os_name else None)
    # One encryption fact across platforms: FileVault on a Mac, storage on Android.
    sec = details.security
    encrypted = fv.filevault_enabled if fv.filevault_enabled is not None else sec.is_encrypted
    _put(attrs, "disk_encryption.enabled", encrypted)


def _item_run_attrs(attrs: dict[str, Any], row: KItemRun) -> None:
    """What a library item row says about its last runs (both row shapes share these)."""
    _put(attrs, "log", row.log)
    _put(attrs, "last_audit_log", row.last_audit_log)
    _put(attrs, "control_log", row.control_log)
    _put(attrs, "reported_at", row.reported_at)
    _put(attrs, "last_audit_run", row.last_audit_run)
    _put(attrs, "control_reported_at", row.control_reported_at)
    if row.blueprint is not None:
        attrs["blueprint_id"] = row.blueprint.id
        attrs["blueprint_name"] = row.blueprint.name
    attrs["status_known"] = is_known_library_item_status(row.status)
    read_fields(attrs, EDR_FIELDS, row)


def library_item_subject(row: KDeviceLibraryItem) -> Subject:
    """A library item row of ``/devices/{id}/status`` or ``/library-items`` as a Subject.

    ``status`` is kept as reported (``failed`` stays lower case for profiles); an
    unknown status is kept too, with ``attrs["status_known"] = False``.
    """
    attrs: dict[str, Any] = {}
    _item_run_attrs(attrs, row)
    attrs["is_profile"] = row.type == PROFILE_TYPE
    _put(attrs, "rules_present", row.rules_present)
    return Subject(
        kind=SubjectKind.LIBRARY_ITEM,
        id=row.item_id,
        name=row.name,
        status=row.status,
        type=row.type,
        attrs=attrs,
    )


def library_item_status_row_subject(
    row: KLibraryItemStatusRow,
    *,
    item_id: str,
    item_name: str = "",
    item_type: str = "",
) -> Subject:
    """A row of ``/library/library-items/{item_id}/status`` as a Subject.

    Those rows name the device (``row.device_id``) but not the item, so the caller
    passes the item's id and name (from ``list-library-items``). The subject matches
    what :func:`library_item_subject` gives for the same item on the same device.
    """
    kind = row.type or item_type
    attrs: dict[str, Any] = {"device_id": row.device_id}
    if row.computer is not None:
        attrs["device_name"] = row.computer.name
    _item_run_attrs(attrs, row)
    attrs["is_profile"] = kind == PROFILE_TYPE
    return Subject(
        kind=SubjectKind.LIBRARY_ITEM,
        id=item_id,
        name=item_name,
        status=row.status,
        type=kind,
        attrs=attrs,
    )


def parameter_subject(row: KParameter) -> Subject:
    """A parameter row (macOS) as a Subject; category and subcategory go to ``attrs``."""
    attrs: dict[str, Any] = {
        "category": row.category,
        "subcategory": row.subcategory,
        "status_known": is_known_parameter_status(row.status),
    }
    return Subject(
        kind=SubjectKind.PARAMETER,
        id=row.item_id,
        name=row.name,
        status=row.status,
        type="parameter",
        attrs=attrs,
    )


def app_subject(row: KApp) -> Subject:
    """An installed app as a Subject.

    ``id`` is the bundle id (Apple), the package name (Android) or the package family
    name (Windows ``name``); ``type`` is ``apple``, ``windows`` or ``android``. Apps have
    no status of their own: ``status`` is ``installed``.
    """
    attrs: dict[str, Any] = {"version": row.app_version}
    if row.family == "apple":
        attrs.update(bundle_id=row.bundle_id, source=row.source, path=row.path)
        _put(attrs, "signature", row.signature or None)
        _put(attrs, "app_store_vendable", row.app_store_vendable)
        _put(attrs, "device_based_vpp", row.device_based_vpp)
        _put(attrs, "modified_at", row.modification_date)
    elif row.family == "windows":
        attrs.update(
            publisher=row.publisher_display_name or row.publisher,
            path=row.installed_path,
            application_type=row.application_type,
            architecture=row.architecture,
        )
        _put(attrs, "product_code", row.product_code or None)
    else:
        attrs.update(
            package_name=row.package_name,
            source=row.application_source,
            installer=row.installer_package_name,
        )
        _put(attrs, "sha256", row.sha256_hash or None)
    return Subject(
        kind=SubjectKind.APP,
        id=row.identifier,
        name=row.label,
        status="installed",
        type=row.family,
        attrs=attrs,
    )


def lost_mode_subject(lost: KLostMode) -> Subject:
    """A device's Lost Mode (``/details/lostmode``) as its one ``lost_mode`` subject.

    ``status`` is ``lost_mode_status`` (``ENABLED`` when on); ``attrs`` holds who
    enabled it and when, the disable request's status, the last location request's
    status and time, and the lock screen message. Unknown values are left out.
    """
    attrs: dict[str, Any] = {}
    read_fields(attrs, LOST_MODE_FIELDS, lost)
    _put(attrs, "last_location_at", lost.last_location_at or lost.last_location_status_at)
    return Subject(
        kind=SubjectKind.LOST_MODE,
        id="lost_mode",
        name="Lost Mode",
        status=lost.lost_mode_status,
        type="lost_mode",
        attrs=attrs,
    )


__all__ = [
    "LOST_MODE_PLATFORMS",
    "PROFILE_TYPE",
    "app_subject",
    "details_attrs",
    "library_item_status_row_subject",
    "library_item_subject",
    "lost_mode_subject",
    "parameter_subject",
    "to_device",
]
