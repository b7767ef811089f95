"""The rule packs in rules/: they load, and each rule fires on what it is about."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.engine import builtin_rules_dir, evaluate_device, load_rules
from monitor.models import SubjectKind
from tests.engine.factories import NOW, device, facts, subject

LI, PARAM = SubjectKind.LIBRARY_ITEM, SubjectKind.PARAMETER


def _everything_enabled(tmp_path: Path) -> Any:
    shipped = load_rules([])
    mine = tmp_path / "all.yaml"
    mine.write_text(
        "overrides:\n"
        + "".join(f"  - id: {r.id}\n    enabled: true\n" for r in shipped.rules if not r.enabled)
    )
    return load_rules([mine])


def test_every_shipped_file_loads_on_its_own() -> None:
    files = sorted(builtin_rules_dir({}).glob("*.yaml"))
    assert {f.name for f in files} >= {
        "kandji-library-items.yaml",
        "kandji-parameters.yaml",
        "kandji-device.yaml",
    }
    for f in files:
        assert len(load_rules([f], builtin=False)) > 0, f


def test_shipped_rules_enabled_by_default() -> None:
    rs = load_rules([])
    enabled = {r.id for r in rs.enabled}
    assert {
        "kandji.library-item.error",
        "kandji.library-item.incompatible",
        "kandji.library-item.profile-failed",
        "kandji.parameter.error",
        "kandji.device.not-checked-in",
        "kandji.device.mdm-disabled",
    } <= enabled
    # These cost a request per device, or need a local decision: off until asked for.
    assert (
        not {
            "kandji.device.filevault-off",
            "kandji.device.macos-below-minimum",
            "kandji.device.ios-below-minimum",
        }
        & enabled
    )
    assert all(r.description and r.id.startswith(f"{r.source}.") for r in rs.rules)


CASES: list[tuple[str, dict[str, Any], list[Any], str, str]] = [
    # id, device facts, subjects, expected rule, expected severity
    (
        "item in ERROR",
        {},
        [subject(LI, "i", "ERROR", type="custom-app", log="exit 3")],
        "kandji.library-item.error",
        "warning",
    ),
    (
        "item INCOMPATIBLE",
        {},
        [subject(LI, "i", "INCOMPATIBLE")],
        "kandji.library-item.incompatible",
        "info",
    ),
    (
        "profile failed",
        {},
        [subject(LI, "i", "failed", type="profile")],
        "kandji.library-item.profile-failed",
        "warning",
    ),
    ("stuck pending", {}, [subject(LI, "i", "PENDING")], "kandji.library-item.stuck", "info"),
    (
        "edr off",
        {},
        [subject(LI, "i", "PASS", type="threat-security-policy", edr__status="disabled")],
        "kandji.library-item.edr-not-enabled",
        "warning",
    ),
    (
        "parameter in ERROR",
        {},
        [subject(PARAM, "p", "ERROR", category="Security")],
        "kandji.parameter.error",
        "warning",
    ),
    (
        "silent for 8 days",
        {"last_check_in": NOW - timedelta(days=8)},
        [],
        "kandji.device.not-checked-in",
        "warning",
    ),
    ("MDM disabled", {"mdm__enabled": False}, [], "kandji.device.mdm-disabled", "warning"),
    ("agent missing", {"agent__installed": False}, [], "kandji.device.agent-missing", "warning"),
    ("lost mode", {"lost_mode_status": "ENABLED"}, [], "kandji.device.lost-mode", "info"),
    ("FileVault off", {"filevault__enabled": False}, [], "kandji.device.filevault-off", "critical"),
    ("old macOS", {"os_version": "13.6.1"}, [], "kandji.device.macos-below-minimum", "warning"),
    (
        "old iOS",
        {"platform": "iPhone", "os_version": "16.7"},
        [],
        "kandji.device.ios-below-minimum",
        "warning",
    ),
]

HEALTHY: dict[str, Any] = {
    "last_check_in": NOW - timedelta(hours=1),
    "os_version": "15.1",
    "mdm__enabled": True,
    "agent__installed": True,
    "filevault__enabled": True,
    "lost_mode_status": "",
}


def test_a_healthy_device_has_no_findings(tmp_path: Path) -> None:
    rs = _everything_enabled(tmp_path)
    items = [subject(LI, "a", "PASS"), subject(LI, "b", "success", type="profile")]
    assert (
        evaluate_device(rs, device(**HEALTHY), facts(*items, subject(PARAM, "p", "PASS")), NOW)
        == []
    )


@pytest.mark.parametrize(
    ("facts_", "subjects", "rule_id", "severity"), [pytest.param(*c[1:], id=c[0]) for c in CASES]
)
def test_each_shipped_rule_fires_on_its_problem(
    tmp_path: Path, facts_: dict[str, Any], subjects: list[Any], rule_id: str, severity: str
) -> None:
    rs = _everything_enabled(tmp_path)
    found = evaluate_device(rs, device(**{**HEALTHY, **facts_}), facts(*subjects), NOW)
    assert [f.rule_id for f in found] == [rule_id]
    [f] = found
    assert f.severity == severity
    assert f.summary
    assert "{{" not in f.summary
    assert "{{" not in f.description


def test_removed_devices_do_not_alert_for_silence(tmp_path: Path) -> None:
    rs = _everything_enabled(tmp_path)
    gone = device(last_check_in=NOW - timedelta(days=30), is_removed=True)
    assert evaluate_device(rs, gone, {}, NOW) == []


def test_shipped_texts_read_well(tmp_path: Path) -> None:
    rs = _everything_enabled(tmp_path)
    dev = device(name="Ana's Mac", last_check_in=NOW - timedelta(days=9, hours=2))
    item = subject(LI, "i", "ERROR", type="custom-script", name="Install Chrome", log="exit 3")
    found = {f.rule_id: f for f in evaluate_device(rs, dev, facts(item), NOW)}
    silent = found["kandji.device.not-checked-in"]
    assert silent.summary == "Ana's Mac last checked in 9d 2h ago"
    error = found["kandji.library-item.error"]
    assert error.summary == "Install Chrome is in ERROR on Ana's Mac"
    assert (
        error.description
        == "custom-script item Install Chrome failed its audit or install. Log: exit 3"
    )


def test_the_rules_readme_examples_load(tmp_path: Path) -> None:
    readme = (builtin_rules_dir({}) / "README.md").read_text()
    example, override = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    (tmp_path / "example.yaml").write_text(example)
    (tmp_path / "override.yaml").write_text(override)
    rs = load_rules([tmp_path / "example.yaml"], builtin=False)
    assert [r.id for r in rs.rules] == ["kandji.library-item.error"]
    changed = load_rules([tmp_path / "override.yaml"]).rule("kandji.device.macos-below-minimum")
    assert changed.enabled
