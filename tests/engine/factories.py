"""Builders for engine tests: devices, subjects and one-rule rule sets."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.engine import RuleSet, load_rules_text
from monitor.models import Device, SourceKind, Subject, SubjectKind

NOW = datetime(2026, 1, 20, 12, 0, tzinfo=UTC)

_DEVICE_FIELDS = set(Device.__dataclass_fields__) - {"attrs"}
_SUBJECT_FIELDS = set(Subject.__dataclass_fields__) - {"attrs"}

KANDJI = SourceKind("kandji")


def device(
    device_id: str = "dev-1",
    *,
    source: str = "acme",
    source_kind: SourceKind = KANDJI,
    **facts: Any,
) -> Device:
    """A device; keyword facts go to dataclass fields when they are one, else to attrs.

    Dotted attrs keys are written with ``__`` (``filevault__enabled=False``).
    """
    fields: dict[str, Any] = {"name": f"Mac {device_id}", "platform": "Mac"}
    attrs: dict[str, Any] = {}
    for key, value in facts.items():
        name = key.replace("__", ".")
        if name in _DEVICE_FIELDS:
            fields[name] = value
        else:
            attrs[name] = value
    return Device(
        source=source, source_kind=source_kind, device_id=device_id, attrs=attrs, **fields
    )


def subject(
    kind: SubjectKind = SubjectKind.LIBRARY_ITEM,
    subject_id: str = "item-1",
    status: str = "PASS",
    **facts: Any,
) -> Subject:
    """A subject; keyword facts go to dataclass fields when they are one, else to attrs."""
    fields: dict[str, Any] = {"name": f"Item {subject_id}"}
    attrs: dict[str, Any] = {}
    for key, value in facts.items():
        name = key.replace("__", ".")
        if name in _SUBJECT_FIELDS:
            fields[name] = value
        else:
            attrs[name] = value
    return Subject(kind=kind, id=subject_id, status=status, attrs=attrs, **fields)


def rules_yaml(*rules: Mapping[str, Any], **top: Any) -> str:
    """A rule file's text (JSON is YAML) from rule mappings."""
    return json.dumps({"rules": list(rules), **top})


def rule(
    rule_id: str = "test.rule",
    *,
    subject: str = "library_item",
    match: Mapping[str, Any] | None = None,
    **more: Any,
) -> dict[str, Any]:
    """A rule mapping with the required keys filled in."""
    out: dict[str, Any] = {
        "id": rule_id,
        "description": "a test rule",
        "subject": subject,
        "match": dict(match) if match is not None else {"status": "ERROR"},
    }
    for key, value in more.items():
        out["for" if key == "for_" else key] = value
    return out


def one_rule(**kwargs: Any) -> RuleSet:
    """A rule set holding one rule built by :func:`rule`."""
    return load_rules_text(rules_yaml(rule(**kwargs)), "test.yaml")


def facts(*subjects: Subject) -> dict[SubjectKind, list[Subject]]:
    """Subjects grouped by kind, as a sweep hands them over."""
    out: dict[SubjectKind, list[Subject]] = {}
    for s in subjects:
        out.setdefault(s.kind, []).append(s)
    return out


def ids(findings: Sequence[Any]) -> list[tuple[str, str]]:
    """(rule id, subject id) of each finding, sorted."""
    return sorted((f.rule_id, f.subject_id) for f in findings)
