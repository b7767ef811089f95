"""JSON encoding of the shared models for storage columns.

Datetimes are stored as ISO-8601 UTC strings with microseconds and a fixed width, so
that text order is time order and SQL can compare them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from monitor.clock import utc
from monitor.models import Alert, AlertState, Finding, Severity, SourceKind, SubjectKind


def ts(value: datetime) -> str:
    """A datetime as a sortable ISO UTC string."""
    return utc(value).isoformat(timespec="microseconds")


def ts_or_none(value: datetime | None) -> str | None:
    """:func:`ts`, passing None through."""
    return None if value is None else ts(value)


def parse_ts(value: str) -> datetime:
    """The aware UTC datetime of a stored string."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_ts_or_none(value: str | None) -> datetime | None:
    """:func:`parse_ts`, passing None through."""
    return None if value is None else parse_ts(value)


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    """A finding as plain JSON data."""
    return {
        "rule_id": finding.rule_id,
        "source": finding.source,
        "source_kind": finding.source_kind.value,
        "device_id": finding.device_id,
        "device_name": finding.device_name,
        "device_serial": finding.device_serial,
        "subject_kind": finding.subject_kind.value,
        "subject_id": finding.subject_id,
        "subject_name": finding.subject_name,
        "subject_status": finding.subject_status,
        "severity": finding.severity.value,
        "summary": finding.summary,
        "description": finding.description,
        "labels": dict(finding.labels),
        "for_seconds": finding.for_seconds,
        "keep_firing_for_seconds": finding.keep_firing_for_seconds,
        "fingerprint": finding.fingerprint,
        "owner": finding.owner,
        "detail": finding.detail,
        "remedy": finding.remedy,
    }


def finding_from_dict(data: dict[str, Any]) -> Finding:
    """The finding of :func:`finding_to_dict` data."""
    return Finding(
        rule_id=str(data["rule_id"]),
        source=str(data["source"]),
        source_kind=SourceKind(data["source_kind"]),
        device_id=str(data["device_id"]),
        device_name=str(data["device_name"]),
        device_serial=str(data["device_serial"]),
        subject_kind=SubjectKind(data["subject_kind"]),
        subject_id=str(data["subject_id"]),
        subject_name=str(data["subject_name"]),
        subject_status=str(data["subject_status"]),
        severity=Severity(data["severity"]),
        summary=str(data["summary"]),
        description=str(data.get("description", "")),
        labels={str(k): str(v) for k, v in dict(data.get("labels") or {}).items()},
        for_seconds=float(data.get("for_seconds", 0.0)),
        keep_firing_for_seconds=float(data.get("keep_firing_for_seconds", 0.0)),
        fingerprint=str(data.get("fingerprint", "")),
        owner=str(data.get("owner", "")),
        detail=str(data.get("detail", "")),
        remedy=str(data.get("remedy", "")),
    )


def alert_to_dict(alert: Alert) -> dict[str, Any]:
    """An alert as plain JSON data (the finding nested)."""
    return {
        "fingerprint": alert.fingerprint,
        "state": alert.state.value,
        "finding": finding_to_dict(alert.finding),
        "active_since": ts(alert.active_since),
        "last_seen": ts(alert.last_seen),
        "firing_since": ts_or_none(alert.firing_since),
        "resolved_at": ts_or_none(alert.resolved_at),
        "baseline": alert.baseline,
    }


def alert_from_dict(data: dict[str, Any]) -> Alert:
    """The alert of :func:`alert_to_dict` data."""
    return Alert(
        fingerprint=str(data["fingerprint"]),
        state=AlertState(data["state"]),
        finding=finding_from_dict(data["finding"]),
        active_since=parse_ts(data["active_since"]),
        last_seen=parse_ts(data["last_seen"]),
        firing_since=parse_ts_or_none(data.get("firing_since")),
        resolved_at=parse_ts_or_none(data.get("resolved_at")),
        baseline=bool(data.get("baseline", False)),
    )


def dumps(data: Any) -> str:
    """Compact, stable JSON text."""
    return json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def loads(text: str) -> Any:
    """Parse JSON text."""
    return json.loads(text)
