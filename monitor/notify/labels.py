"""The label set of an alert, as routes, group_by and silences see it.

The rule's own labels (``team: endpoint``) come first; the standard labels below are
laid over them, so a rule cannot masquerade as another source or severity.
"""

from __future__ import annotations

from monitor.models import Alert

STANDARD_LABELS: tuple[str, ...] = (
    "rule_id",
    "severity",
    "source",
    "source_kind",
    "device_id",
    "device_name",
    "device_serial",
    "subject_kind",
    "subject_id",
    "subject_name",
    "subject_status",
)


def alert_labels(alert: Alert) -> dict[str, str]:
    """Every label of ``alert``: the rule's labels, then the standard ones."""
    f = alert.finding
    labels = {str(k): str(v) for k, v in f.labels.items()}
    labels.update(
        rule_id=f.rule_id,
        severity=f.severity.value,
        source=f.source,
        source_kind=f.source_kind.value,
        device_id=f.device_id,
        device_name=f.device_name,
        device_serial=f.device_serial,
        subject_kind=f.subject_kind.value,
        subject_id=f.subject_id,
        subject_name=f.subject_name,
        subject_status=f.subject_status,
    )
    return labels
