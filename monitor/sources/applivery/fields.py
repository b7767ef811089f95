"""The facts an Applivery source reports, for the rule engine's catalogue.

Everything comes with the device list (one paged read per sweep). A fact read as it is
names its path in the Applivery model (:func:`~monitor.sources.catalogue.reads`) and
the Applivery key behind it; the others say how the mapping computes them.
"""

from __future__ import annotations

from monitor.models import FactKind, SubjectKind
from monitor.sources.catalogue import FieldCatalogue, ValueType, declare, reads

S, B, N, T, L = (
    ValueType.STR,
    ValueType.BOOL,
    ValueType.NUMBER,
    ValueType.TIMESTAMP,
    ValueType.LIST,
)

#: Read from a device record (paths into AWinDevice; the docs name Applivery's keys).
DEVICE_FIELDS = reads(
    FactKind.DEVICE,
    ("compliance", B, "compliant", "summary.compliance.compliant: Applivery's verdict"),
    ("compliance_checked_at", T, "compliance_checked_at", "summary.compliance.lastCheck"),
    ("state", S, "state", "PROVISIONING, ACTIVE, DELETED, DELETE_REQUESTED, UNKNOWN"),
    ("sync_error", B, "sync_error", "lastSyncError"),
    ("os_version_name", S, "summary.os_version_name"),
    ("mdm.supervised", B, "summary.supervised"),
    ("last_enrollment", T, "enrolled_date", "enrolledDate"),
    ("imei", S, "summary.imei"),
    ("policy.id", S, "policy.id", "the policy in force (also blueprint_id)"),
    ("policy.name", S, "policy.name", "also blueprint_name"),
) + declare(
    FactKind.DEVICE,
    ("refresh_info_needed", L, "info categories still pending"),
    ("config.error_count", N, "OMA-URI nodes the device failed to answer"),
    ("config.errors", L, "those OMA-URIs"),
)

FIELDS: FieldCatalogue = {SubjectKind.DEVICE: DEVICE_FIELDS}
"""Every field an Applivery source reports, by subject kind."""

__all__ = ["DEVICE_FIELDS", "FIELDS"]
