"""Every operator on every field type, missing facts included (table-driven)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor.engine import Verdict, evaluate_device, evaluate_subject, explain
from monitor.models import Device, Subject, SubjectKind
from tests.engine.factories import NOW, device, facts, one_rule, subject

MISSING = object()


def _place(kind: str, path: str, value: Any) -> tuple[Device, Subject | None]:
    on_device = kind == "device" or path.startswith("device.")
    name = path.removeprefix("device.").removeprefix("subject.").replace(".", "__")
    extra = {} if value is MISSING else {name: value}
    if on_device:
        dev = device(**extra)
        subj = None if kind == "device" else subject(SubjectKind(kind), status="ERROR")
        return dev, subj
    status = extra.pop("status", "ERROR") if name == "status" else "ERROR"
    if name == "status" and value is MISSING:
        status = ""
    return device(), subject(SubjectKind(kind), status=status, **extra)


def outcome(kind: str, path: str, condition: Any, value: Any, now: datetime = NOW) -> bool:
    """Does a one-condition rule match a fact with ``value``? Fast and slow paths must agree."""
    rs = one_rule(subject=kind, match={path: condition})
    dev, subj = _place(kind, path, value)
    observed = facts(subj) if subj is not None else {}
    fast = bool(evaluate_device(rs, dev, observed, now))
    slow = evaluate_subject(rs.rule("test.rule"), dev, subj, now) is not None
    why = explain(rs, dev, observed, now)[0].verdict is Verdict.MATCH
    assert fast == slow == why, (fast, slow, why)
    return fast


LI = "library_item"
DEV = "device"
T0 = datetime(2026, 1, 1, tzinfo=UTC)

CASES: list[tuple[str, str, str, Any, Any, bool]] = [
    # id, subject kind, field, condition, value, expected
    ("eq shorthand", LI, "status", "ERROR", "ERROR", True),
    ("eq shorthand other", LI, "status", "ERROR", "PASS", False),
    ("eq is case-sensitive", LI, "status", "failed", "FAILED", False),
    ("eq explicit", LI, "name", {"eq": "Chrome"}, "Chrome", True),
    ("eq int operand on string", LI, "name", {"eq": 7}, "7", True),
    ("ne holds", LI, "type", {"ne": "profile"}, "custom-app", True),
    ("ne fails on equal", LI, "type", {"ne": "profile"}, "profile", False),
    ("ne on missing is false", LI, "type", {"ne": "profile"}, MISSING, False),
    ("in", LI, "status", {"in": ["ERROR", "failed"]}, "failed", True),
    ("in shorthand list", LI, "status", ["ERROR", "failed"], "PASS", False),
    ("not_in", LI, "type", {"not_in": ["profile"]}, "custom-script", True),
    ("not_in fails", LI, "type", {"not_in": ["profile"]}, "profile", False),
    ("not_in on missing", LI, "type", {"not_in": ["profile"]}, MISSING, False),
    ("matches the whole value", LI, "name", {"matches": ".*Chro.*"}, "Google Chrome", True),
    ("matches is anchored", LI, "name", {"matches": "Chro"}, "Google Chrome", False),
    ("not_matches", LI, "name", {"not_matches": "Lab.*"}, "Office", True),
    ("not_matches fails", LI, "name", {"not_matches": "Lab.*"}, "Lab kit", False),
    ("not_matches on missing", LI, "log", {"not_matches": "x"}, MISSING, False),
    ("matches on a list: any element", DEV, "tags", {"matches": "vip.*"}, ("a", "vip-1"), True),
    ("not_matches on a list: no element", DEV, "tags", {"not_matches": "vip.*"}, ("a",), True),
    ("not_matches on a list fails", DEV, "tags", {"not_matches": "vip.*"}, ("vip",), False),
    ("contains in list", DEV, "tags", {"contains": "vip"}, ("vip", "lab"), True),
    ("contains is exact membership", DEV, "tags", {"contains": "vip"}, ("vips",), False),
    ("not_contains", DEV, "tags", {"not_contains": "lab"}, ("vip",), True),
    ("empty list is known", DEV, "tags", {"not_contains": "lab"}, (), True),
    ("contains substring", LI, "log", {"contains": "timeout"}, "curl: timeout", True),
    ("not_contains substring", LI, "log", {"not_contains": "timeout"}, "ok", True),
    # booleans
    ("bool eq false", DEV, "mdm.enabled", False, False, True),
    ("bool eq false on true", DEV, "mdm.enabled", False, True, False),
    ("bool from vendor string", DEV, "mdm.enabled", False, "False", True),
    ("bool missing", DEV, "filevault.enabled", False, MISSING, False),
    ("bool None", DEV, "filevault.enabled", False, None, False),
    ("bool ne true on false", DEV, "filevault.enabled", {"ne": True}, False, True),
    ("bool ne true on None", DEV, "filevault.enabled", {"ne": True}, None, False),
    # numbers
    ("number lt", DEV, "users.admin_count", {"lt": 2}, 1, True),
    ("number le edge", DEV, "users.admin_count", {"le": 2}, 2, True),
    ("number gt", DEV, "users.admin_count", {"gt": 2}, 2, False),
    ("number ge float", DEV, "users.admin_count", {"ge": 1.5}, 2, True),
    ("number from string", DEV, "users.admin_count", {"gt": 1}, "3", True),
    ("number unreadable", DEV, "users.admin_count", {"gt": 1}, "many", False),
    ("number eq", DEV, "users.admin_count", 0, 0, True),
    # versions
    ("version lt by part, not text", DEV, "os_version", {"lt": "14.10"}, "14.9", True),
    ("version 14.10 > 14.9", DEV, "os_version", {"gt": "14.9"}, "14.10", True),
    ("version lt", DEV, "os_version", {"lt": "14.0"}, "13.6.7", True),
    ("version lt fails", DEV, "os_version", {"lt": "14.0"}, "14.4.1", False),
    ("version trailing zeros", DEV, "os_version", {"eq": "14"}, "14.0.0", True),
    ("version int operand", DEV, "os_version", {"ge": 14}, "14.0.1", True),
    ("version with build suffix", DEV, "os_version", {"ge": "17.5"}, "17.5.1 (21F90)", True),
    ("version le equal", DEV, "os_version", {"le": "14.2.1"}, "14.2.1", True),
    ("version unreadable", DEV, "os_version", {"lt": "14"}, "unknown", False),
    ("version empty is missing", DEV, "os_version", {"lt": "14"}, "", False),
    ("version in", DEV, "os_version", {"in": ["14.1", "14.2"]}, "14.2.0", True),
    ("windows build", DEV, "os_version", {"lt": "10.0.22631"}, "10.0.19045.3803", True),
    ("app version", "app", "version", {"lt": "120.0.6099"}, "119.0.1", True),
    # timestamps
    ("timestamp lt", DEV, "last_check_in", {"lt": "2026-01-10T00:00:00Z"}, T0, True),
    ("timestamp ge", DEV, "last_check_in", {"ge": "2026-01-10T00:00:00Z"}, T0, False),
    (
        "timestamp string fact",
        DEV,
        "last_check_in",
        {"lt": "2026-01-10"},
        "2026-01-01T00:00:00Z",
        True,
    ),
    (
        "naive fact is UTC",
        DEV,
        "last_check_in",
        {"ge": "2026-01-01T00:00:00Z"},
        datetime(2026, 1, 1),
        True,
    ),
    ("older_than", DEV, "last_check_in", {"older_than": "7d"}, NOW - timedelta(days=8), True),
    (
        "older_than not yet",
        DEV,
        "last_check_in",
        {"older_than": "7d"},
        NOW - timedelta(days=6),
        False,
    ),
    (
        "older_than compound",
        DEV,
        "last_check_in",
        {"older_than": "1d12h"},
        NOW - timedelta(hours=37),
        True,
    ),
    ("newer_than", DEV, "last_check_in", {"newer_than": "1h"}, NOW - timedelta(minutes=5), True),
    (
        "newer_than fails",
        DEV,
        "last_check_in",
        {"newer_than": "1h"},
        NOW - timedelta(hours=2),
        False,
    ),
    ("older_than on missing", DEV, "last_check_in", {"older_than": "7d"}, None, False),
    ("newer_than on missing", DEV, "last_check_in", {"newer_than": "7d"}, None, False),
    (
        "subject timestamp",
        LI,
        "last_audit_run",
        {"older_than": "2d"},
        NOW - timedelta(days=3),
        True,
    ),
    # exists
    ("exists true", LI, "log", {"exists": True}, "boom", True),
    ("exists true on None", LI, "log", {"exists": True}, None, False),
    ("exists true on empty string", LI, "log", {"exists": True}, "", False),
    ("exists false on missing", LI, "log", {"exists": False}, MISSING, True),
    ("exists false on empty string", LI, "log", {"exists": False}, "", True),
    ("exists false on value", LI, "log", {"exists": False}, "x", False),
    ("exists false on false bool", DEV, "filevault.enabled", {"exists": False}, False, False),
    # several operators on one field: all must hold
    ("range holds", DEV, "os_version", {"ge": "14", "lt": "15"}, "14.6", True),
    ("range fails", DEV, "os_version", {"ge": "14", "lt": "15"}, "15.0.1", False),
    ("exists and ne", LI, "edr.status", {"exists": True, "ne": "enabled"}, "disabled", True),
    # prefixes
    ("device prefix on a subject rule", LI, "device.platform", "Mac", "Mac", True),
    ("device prefix mismatch", LI, "device.platform", "iPhone", "Mac", False),
    ("subject prefix", LI, "subject.type", "profile", "profile", True),
    ("subject prefix on device rule is the device", DEV, "subject.platform", "Mac", "Mac", True),
]


@pytest.mark.parametrize(
    ("kind", "path", "condition", "value", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_operator(kind: str, path: str, condition: Any, value: Any, expected: bool) -> None:
    assert outcome(kind, path, condition, value) is expected


@pytest.mark.parametrize(
    "condition",
    [
        {"eq": "x"},
        {"ne": "x"},
        {"in": ["x"]},
        {"not_in": ["x"]},
        {"matches": "x"},
        {"not_matches": "x"},
        {"contains": "x"},
        {"not_contains": "x"},
    ],
)
def test_no_comparison_matches_a_missing_string(condition: dict[str, Any]) -> None:
    for missing in (MISSING, None, ""):
        assert outcome(LI, "log", condition, missing) is False


@pytest.mark.parametrize("op", ["lt", "le", "gt", "ge", "eq", "ne"])
def test_no_ordered_comparison_matches_a_missing_version(op: str) -> None:
    for missing in (MISSING, None, ""):
        assert outcome(DEV, "os_version", {op: "14"}, missing) is False


def test_older_than_moves_with_now() -> None:
    seen = NOW - timedelta(days=6)
    assert outcome(DEV, "last_check_in", {"older_than": "7d"}, seen, now=NOW) is False
    later = NOW + timedelta(days=2)
    assert outcome(DEV, "last_check_in", {"older_than": "7d"}, seen, now=later) is True
