"""The shipped Prometheus alerting rules: promtool accepts them, their own unit tests
pass, and they only use metrics the monitor exports."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.binaries import require_binary
from tests.deploy.exported import exported_metric_names, metric_names_in

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULES = DEPLOY / "compliance-monitor.rules.yml"
RULE_TESTS = DEPLOY / "compliance-monitor.rules.test.yml"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = require_binary("promtool", "prometheus")
    return subprocess.run(
        [str(promtool), *args], cwd=DEPLOY, capture_output=True, text=True, timeout=120,
        check=False,
    )


def test_promtool_checks_the_rules() -> None:
    result = _promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_rules_fire_as_their_unit_tests_expect() -> None:
    result = _promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_health_conditions_the_monitor_promises_are_covered() -> None:
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    names = {r["alert"] for r in rules}
    assert {
        "ComplianceMonitorDown",
        "ComplianceMonitorSourceUnhealthy",
        "ComplianceMonitorDeadLetters",
        "ComplianceMonitorBudgetNearlySpent",
    } <= names
    assert all(r["labels"]["severity"] in ("warning", "critical") for r in rules)


def test_every_metric_a_rule_uses_is_exported() -> None:
    exported = exported_metric_names()
    for rule in yaml.safe_load(RULES.read_text())["groups"][0]["rules"]:
        used = metric_names_in(rule["expr"])
        assert used <= exported, (rule["alert"], used - exported)
