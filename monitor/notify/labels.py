"""The label set of an alert, as routes, group_by and silences see it.

The rule's own labels (``team: endpoint``) and the device's (``platform``,
``blueprint``) come first; the standard labels of the finding's own fields are laid over
them. The vocabulary is :data:`monitor.models.STANDARD_LABELS`.
"""

from __future__ import annotations

from monitor.models import STANDARD_LABELS, Alert

__all__ = ["STANDARD_LABELS", "alert_labels"]


def alert_labels(alert: Alert) -> dict[str, str]:
    """Every label of ``alert``: the rule's labels, then the standard ones."""
    f = alert.finding
    labels = {str(k): str(v) for k, v in f.labels.items()}
    labels.update(f.standard_labels())
    return labels
