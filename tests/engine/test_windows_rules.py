"""The Windows (Applivery) rule pack says why a PC is non-compliant, with whatever its
device record shows, and follows each cause with a rule of its own."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from monitor.engine import evaluate_device, load_rules
from monitor.models import Device, Finding, SourceKind
from tests.engine.factories import NOW, device

ENCRYPTION = "./Device/Vendor/MSFT/Policy/Config/Security/RequireDeviceEncryption"
DEFENDER = "./Device/Vendor/MSFT/Policy/Config/Defender/AllowRealtimeMonitoring"


def pc(**facts: Any) -> Device:
    base: dict[str, Any] = {
        "name": "PC-LAB-07",
        "platform": "Windows",
        "blueprint_name": "Office PCs",
        "last_check_in": NOW - timedelta(hours=2),
        "state": "ENROLLED",
        "config__error_count": 0,
    }
    return device("win-1", source="pcs", source_kind=SourceKind("applivery"), **{**base, **facts})


def findings(dev: Device) -> dict[str, Finding]:
    return {f.rule_id: f for f in evaluate_device(load_rules([]), dev, {}, NOW)}


@pytest.mark.parametrize(
    ("facts", "summary", "why"),
    [
        (
            {"config__error_count": 2, "config__errors": (DEFENDER, ENCRYPTION)},
            "PC-LAB-07 is not compliant: 2 policy settings failed",
            f"Policy settings that failed to apply (2): {DEFENDER}, {ENCRYPTION}.",
        ),
        (
            {"config__error_count": 1, "config__errors": (ENCRYPTION,)},
            "PC-LAB-07 is not compliant: 1 policy setting failed",
            f"Policy settings that failed to apply (1): {ENCRYPTION}.",
        ),
        (
            {"sync_error": True},
            "PC-LAB-07 is not compliant: last sync failed",
            "Its last sync with Applivery failed.",
        ),
        (
            {"refresh_info_needed": ("hardware", "certificates")},
            "PC-LAB-07 is not compliant",
            "It has still to report hardware, certificates.",
        ),
        (
            {},
            "PC-LAB-07 is not compliant",
            "The device record names no failing setting; see the device in the Applivery "
            "console.",
        ),
    ],
)
def test_a_non_compliant_pc_says_why(facts: dict[str, Any], summary: str, why: str) -> None:
    found = findings(pc(compliance=False, compliance_checked_at=NOW - timedelta(hours=3),
                        **facts))
    alert = found["applivery.windows.non-compliant"]
    assert alert.summary == summary
    assert alert.description.startswith(
        "Applivery judges the device non-compliant with its policy (Office PCs)."
    )
    assert why in alert.description
    assert "Verdict from 3h ago." in alert.description
    assert "{{" not in alert.description


def test_failed_policy_settings_are_a_finding_of_their_own() -> None:
    found = findings(pc(config__error_count=1, config__errors=(ENCRYPTION,)))
    failed = found["applivery.windows.policy-settings-failed"]
    assert failed.summary == "PC-LAB-07: 1 policy setting failed to apply"
    assert failed.description == (
        f"The device failed to apply 1 setting of its policy (Office PCs): {ENCRYPTION}."
    )
    assert "applivery.windows.non-compliant" not in found  # no verdict, no verdict alert


def test_a_compliant_pc_with_nothing_failing_has_no_findings() -> None:
    assert findings(pc(compliance=True)) == {}
