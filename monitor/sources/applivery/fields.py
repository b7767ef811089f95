"""The facts an Applivery source reports, for the rule engine's catalogue.

Everything comes with the device list (one paged read per sweep). A fact read as it is
names its path in the Applivery model and the Applivery key behind it; the others (path
``-``) say how the mapping computes them. Columns: name, type, path, note
(:func:`~monitor.sources.catalogue.table`).
"""

from __future__ import annotations

from monitor.models import FactKind, SubjectKind
from monitor.sources.catalogue import FieldCatalogue, table

#: Read from a device record (paths into AWinDevice; the notes name Applivery's keys).
DEVICE_FIELDS = table(FactKind.DEVICE, """
compliance             boolean    compliant  summary.compliance.compliant: Applivery's verdict
compliance_checked_at  timestamp  compliance_checked_at  summary.compliance.lastCheck
state                  string     state  PROVISIONING, ACTIVE, DELETED, DELETE_REQUESTED, UNKNOWN
sync_error             boolean    sync_error             lastSyncError
os_version_name        string     summary.os_version_name
mdm.supervised         boolean    summary.supervised
last_enrollment        timestamp  enrolled_date          enrolledDate
imei                   string     summary.imei
policy.id              string     policy.id              the policy in force (also blueprint_id)
policy.name            string     policy.name            also blueprint_name
refresh_info_needed    list       -  info categories still pending
config.error_count     number     -  OMA-URI nodes the device failed to answer
config.errors          list       -  those OMA-URIs
""")

FIELDS: FieldCatalogue = {SubjectKind.DEVICE: DEVICE_FIELDS}
"""Every field an Applivery source reports, by subject kind."""

__all__ = ["DEVICE_FIELDS", "FIELDS"]
