"""RuleSet.needs: the sweep fetches only what the enabled rules read."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.engine import details_fields, load_rules, load_rules_text
from monitor.models import FactKind, SourceKind
from tests.engine.factories import rule, rules_yaml

D, LI, P, DET, APPS, LM = (
    FactKind.DEVICE,
    FactKind.LIBRARY_ITEMS,
    FactKind.PARAMETERS,
    FactKind.DETAILS,
    FactKind.APPS,
    FactKind.LOST_MODE,
)
K, A = SourceKind("kandji"), SourceKind("applivery")

CASES: list[tuple[str, list[dict[str, Any]], set[FactKind], set[FactKind]]] = [
    ("no rules: the device list only", [], {D}, {D}),
    ("library item rule", [rule("a", source="kandji")], {D, LI}, {D}),
    ("parameter rule", [rule("a", subject="parameter", source="kandji")], {D, P}, {D}),
    (
        "device rule on list fields",
        [rule("a", subject="device", match={"last_check_in": {"older_than": "7d"}})],
        {D},
        {D},
    ),
    (
        "device rule on a details field",
        [rule("a", subject="device", match={"filevault.enabled": False})],
        {D, DET},
        {D},
    ),
    (
        "details field in unless",
        [rule("a", unless=[{"device.ade.enrolled": True}])],
        {D, LI, DET},
        {D},
    ),
    (
        "details field on a subject rule",
        [rule("a", match={"status": "ERROR", "device.users.admin_count": {"gt": 1}})],
        {D, LI, DET},
        {D},
    ),
    (
        "supervision: details on Kandji, list on Applivery",
        [rule("a", subject="device", match={"mdm.supervised": False})],
        {D, DET},
        {D},
    ),
    (
        # Applivery's sweep reads no app inventory: an app rule does not apply to it
        # (rather than waiting forever on facts that never come).
        "app rule for any source: Kandji only",
        [rule("a", subject="app", match={"name": "Zoom"})],
        {D, APPS},
        {D},
    ),
    (
        "lost mode subject",
        [rule("a", subject="lost_mode", match={"status": "ENABLED"})],
        {D, LM},
        {D},
    ),
    (
        "applivery rule leaves kandji alone",
        [rule("a", subject="device", source="applivery", match={"compliance": False})],
        {D},
        {D},
    ),
    (
        "disabled rules fetch nothing",
        [rule("a", enabled=False), rule("b", subject="parameter", enabled=False)],
        {D},
        {D},
    ),
]


@pytest.mark.parametrize(
    ("rules", "kandji", "applivery"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_needs(
    rules: list[dict[str, Any]], kandji: set[FactKind], applivery: set[FactKind]
) -> None:
    rs = load_rules_text(rules_yaml(*rules))
    assert rs.needs(K) == kandji
    assert rs.needs(A) == applivery
    assert rs.needs("kandji") == kandji


def test_facts_of_a_rule_tell_alerts_what_must_be_fresh_to_resolve() -> None:
    rs = load_rules_text(
        rules_yaml(rule("a", subject="device", match={"filevault.enabled": False}))
    )
    assert rs.facts_of("a", K) == {D, DET}
    assert rs.facts_of("a", A) == frozenset()


def test_shipped_defaults_keep_the_sweep_cheap() -> None:
    # Out of the box: device list, library items and parameters; no per-device details.
    rs = load_rules([])
    assert rs.needs(K) == {D, LI, P}
    assert DET not in rs.needs(K)


def test_enabling_filevault_rule_brings_in_details(tmp_path: Any) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text("overrides:\n  - id: kandji.device.filevault-off\n    enabled: true\n")
    assert load_rules([mine]).needs(K) == {D, LI, P, DET}


def test_details_fields_are_documented() -> None:
    fields = details_fields(K)
    assert {"filevault.enabled", "mdm.supervised", "users.admins"} <= fields
    assert not {"mdm.enabled", "agent.installed", "last_check_in", "os_version"} & fields
    assert details_fields(A) == frozenset()
