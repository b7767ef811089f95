"""The mapping from Applivery models to the shared vocabulary (:mod:`monitor.models`)."""

from __future__ import annotations

from typing import Any

from monitor.models import Device
from monitor.sources.applivery.config import SOURCE_KIND
from monitor.sources.applivery.fields import DEVICE_FIELDS
from monitor.sources.applivery.models import AWinDevice
from monitor.sources.catalogue import read_fields

PLATFORM = "Windows"
"""The platform of every device an Applivery source reports."""


def to_device(source_name: str, device: AWinDevice) -> Device:
    """An Applivery Windows device as a :class:`Device`.

    Device fields: ``name`` (display name, else the reported name), ``serial``,
    ``os_version`` (the raw build), ``blueprint_id``/``blueprint_name`` (the policy in
    force), ``user_email`` (the MDM user), ``last_check_in`` (``lastStatusReportTime``)
    and ``tags``. ``attrs`` holds ``compliance`` (Applivery's verdict),
    ``compliance_checked_at``, ``state``, ``sync_error``, ``os_version_name``,
    ``mdm.supervised``, ``refresh_info_needed`` (a tuple; empty when nothing is
    pending), ``last_enrollment``, ``policy.id`` and ``policy.name``, and also
    ``imei``, ``config.errors`` (OMA-URIs the device failed to answer) and
    ``config.error_count``. Unknown values are left out.
    """
    summary = device.summary
    policy = device.policy
    attrs: dict[str, Any] = {}
    read_fields(attrs, DEVICE_FIELDS, device)
    if device.refresh_info_needed is not None:
        attrs["refresh_info_needed"] = tuple(device.refresh_info_needed)
    errors = device.config_errors
    attrs["config.error_count"] = len(errors)
    if errors:
        attrs["config.errors"] = errors
    return Device(
        source=source_name,
        source_kind=SOURCE_KIND,
        device_id=device.id,
        name=device.name,
        serial=summary.serial_number,
        platform=PLATFORM,
        model=summary.model,
        os_version=summary.os_version,
        blueprint_id=policy.id if policy is not None else "",
        blueprint_name=policy.name if policy is not None else "",
        user_email=device.mdm_user.email if device.mdm_user is not None else "",
        last_check_in=device.last_status_report_time,
        tags=tuple(device.tags),
        attrs=attrs,
    )


__all__ = ["PLATFORM", "to_device"]
