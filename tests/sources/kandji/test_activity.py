"""The Kandji activity feed as ``explain`` shows it: one short line per entry."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.sources.kandji.explain import activity_summary


@pytest.mark.parametrize(
    ("action", "details", "expected"),
    [
        ("mdm_command_completed", {"command_type": "ProfileList", "status": 3}, "ProfileList"),
        ("mdm_command_failed", {"command_type": "InstallProfile", "status": 4},
         "InstallProfile"),
        ("mdm_command", {"command_type": "DeviceLock", "status": 5}, "DeviceLock (NotNow)"),
        ("name_changed", {"from": "iPad", "to": "No name"}, "iPad → No name"),
        ("enrollment", {"blueprint_name": "Staff", "enrollment_type": "DEP"},
         "blueprint_name=Staff; enrollment_type=DEP"),
        ("device_csp_query", {"csp_name": "Firewall", "policy_area": "Defender", "x": [1]},
         "csp_name=Firewall; policy_area=Defender"),
        ("something_new", {"a": 1, "b": "two", "c": None, "d": True, "e": 5}, "a=1; b=two; d=True"),
        ("odd", None, ""),
        ("odd", "free text\nacross lines", "free text across lines"),
    ],
)
def test_activity_entries_read_as_one_short_line(action: str, details: Any, expected: str) -> None:
    assert activity_summary(details, action) == expected
