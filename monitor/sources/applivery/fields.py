"""The facts an Applivery source reports, for the rule engine's catalogue.

Everything comes with the device list (one paged read per sweep); each ``doc`` names
the Applivery field the fact is read from.
"""

from __future__ import annotations

from monitor.models import FactKind, SubjectKind
from monitor.sources.catalogue import FieldCatalogue, ValueType, declare

S, B, N, T, L = (
    ValueType.STR,
    ValueType.BOOL,
    ValueType.NUMBER,
    ValueType.TIMESTAMP,
    ValueType.LIST,
)

FIELDS: FieldCatalogue = {
    SubjectKind.DEVICE: declare(
        FactKind.DEVICE,
        ("compliance", B, "Applivery's own compliant verdict"),
        ("compliance_checked_at", T, "when Applivery last judged compliance"),
        ("state", S, "PROVISIONING, ACTIVE, DELETED, DELETE_REQUESTED, UNKNOWN"),
        ("sync_error", B, ""),
        ("os_version_name", S, ""),
        ("mdm.supervised", B, "summary.supervised"),
        ("refresh_info_needed", L, "info categories still pending"),
        ("last_enrollment", T, "enrolledDate"),
        ("imei", S, "summary.imei"),
        ("policy.id", S, "the policy in force (also blueprint_id)"),
        ("policy.name", S, "also blueprint_name"),
        ("config.error_count", N, "OMA-URI nodes the device failed to answer"),
        ("config.errors", L, "those OMA-URIs"),
    ),
}
"""Every field an Applivery source reports, by subject kind."""

__all__ = ["FIELDS"]
