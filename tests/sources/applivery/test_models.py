"""Applivery models: every body the API notes show parses, the shapes they warn about are
tolerated, and a device maps to the fact names the rule engine knows."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.engine import DEVICE_FIELDS
from monitor.models import SourceKind
from monitor.sources.applivery.mapping import to_device
from monitor.sources.applivery.models import (
    AInfoRefresh,
    AWinDevice,
    page_of,
    parse_envelope,
)
from tests.fixtures import applivery_notes


def _notes() -> str:
    return applivery_notes()


def _json_blocks() -> list[str]:
    return re.findall(r"```json\n(.*?)```", _notes(), flags=re.DOTALL)


def _documented(text: str) -> Any:
    """A body quoted in the notes, checked to be there verbatim, decoded."""
    assert text in _notes(), f"not in the notes: {text}"
    return json.loads(text)


def test_the_notes_hold_the_three_bodies_this_file_reads() -> None:
    blocks = _json_blocks()
    assert len(blocks) == 3
    assert '"hasNextPage"' in blocks[0]
    assert '"error"' in blocks[1]
    assert '"winEnterpriseId"' in blocks[2]


def test_documented_list_envelope_parses() -> None:
    # The notes elide the items with "..."; an empty list keeps the rest intact.
    body = json.loads(_json_blocks()[0].replace("[ ... ]", "[]"))
    parsed = page_of(body)
    assert parsed is not None
    items, info = parsed
    assert items == []
    assert info.has_next is False
    assert info.page == 1
    assert info.total == 0


def test_documented_error_envelope_parses() -> None:
    envelope = parse_envelope(json.loads(_json_blocks()[1]))
    assert envelope is not None
    assert envelope.failed
    assert envelope.error is not None
    assert envelope.error.code == 4002
    assert envelope.error.message == "No auth token"


def test_documented_device_example_parses_and_maps() -> None:
    envelope = parse_envelope(json.loads(_json_blocks()[2]))
    assert envelope is not None
    assert not envelope.failed
    device = AWinDevice.model_validate(envelope.data)
    assert device.id == "507f1f77bcf86cd799439011"
    assert device.name == "Marketing Dept Laptop"
    assert device.state == "ACTIVE"
    assert device.tags == ["sales"]
    assert device.summary.serial_number == "SN123456789"
    assert device.summary.os_version_name == "Windows 11 Pro"
    assert device.summary.supervised is True
    assert device.compliant is True
    assert device.compliance_checked_at == datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
    assert device.config_errors == ()

    mapped = to_device("win", device)
    assert mapped.source_kind == SourceKind("applivery")
    assert mapped.platform == "Windows"
    assert mapped.serial == "SN123456789"
    assert mapped.os_version == "10.0.19045.3803"
    assert mapped.attrs["compliance"] is True
    assert mapped.attrs["state"] == "ACTIVE"
    assert mapped.attrs["mdm.supervised"] is True


def test_documented_refresh_answer_and_bodies_parse() -> None:
    answer = parse_envelope(_documented('{"status":true,"data":{"status":true}}'))
    assert answer is not None
    assert AInfoRefresh.model_validate(answer.data).status is True
    body = _documented('{"info": ["hardware","applications","certificates"]}')
    assert body["info"] == ["hardware", "applications", "certificates"]
    queued = parse_envelope(_documented('{"status":true,"data":{"status":"queued"}}'))
    assert queued is not None
    assert not queued.failed


@pytest.mark.parametrize(
    ("body", "ids", "has_next"),
    [
        ({"status": True, "data": {"items": [{"id": "a"}], "hasNextPage": True}}, ["a"], True),
        ({"data": {"items": [{"id": "a"}, {"id": "b"}]}}, ["a", "b"], None),
        ({"status": True, "data": [{"id": "a"}]}, ["a"], None),
        ({"data": [{"_id": "a"}]}, ["a"], None),
        ([{"id": "a"}, "junk", {"id": "b"}], ["a", "b"], None),
        ({"items": [{"id": "a"}], "hasNextPage": "false"}, ["a"], False),
        ({"status": True, "data": {"docs": [{"id": "a"}], "totalPages": 3}}, ["a"], None),
        ({"status": True, "data": {"items": None}}, [], None),
    ],
)
def test_every_list_shape_the_notes_mention_is_read(
    body: Any, ids: list[str], has_next: bool | None
) -> None:
    parsed = page_of(body)
    assert parsed is not None
    items, info = parsed
    assert [AWinDevice.model_validate(i).id for i in items] == ids
    assert info.has_next is has_next


@pytest.mark.parametrize(
    "body",
    [{"status": True, "data": "x"}, {"status": True, "data": {"device": {}}}, "text", 3],
)
def test_bodies_that_are_no_list_are_refused(body: Any) -> None:
    assert page_of(body) is None


@pytest.mark.parametrize(
    ("compliance", "expected"),
    [
        ({"compliant": False, "lastCheck": "2026-02-10T12:00:00.000Z"}, False),
        ({"compliant": "true"}, True),
        (True, True),
        ("nonCompliant", False),
        ("NON_COMPLIANT", False),
        ("compliant", True),
        ({}, None),
        (None, None),
        ("maybe", None),
    ],
)
def test_compliance_verdict_shapes(compliance: Any, expected: bool | None) -> None:
    device = AWinDevice.model_validate({"id": "d", "summary": {"compliance": compliance}})
    assert device.compliant is expected


def test_older_field_names_and_reference_shapes_are_read() -> None:
    device = AWinDevice.model_validate(
        {
            "_id": "0123456789abcdef01234567",
            "organization": "org-1",
            "admEnterprise": "ent-1",
            "winPolicy": "pol-1",
            "refreshInfoNeeded": "hardware",
            "tags": None,
            "mdmUser": "",
            "summary": [],
            "unknownField": {"kept": True},
        }
    )
    assert device.id == "0123456789abcdef01234567"
    assert device.organization_id == "org-1"
    assert device.win_enterprise_id == "ent-1"
    assert device.policy is not None
    assert device.policy.id == "pol-1"
    assert device.refresh_info_needed == ["hardware"]
    assert device.tags == []
    assert device.mdm_user is None
    assert device.summary.name == ""
    assert device.model_extra == {"unknownField": {"kept": True}}


def test_policy_in_force_prefers_applied_then_assigned_then_priority() -> None:
    assigned = [{"winPolicyId": "low", "priority": 5}, {"winPolicyId": "high", "priority": 1}]
    ranked = AWinDevice.model_validate({"winPolicyAssignments": assigned}).policy
    assert ranked is not None
    assert ranked.id == "high"
    both = {"winPolicy": "assigned", "deviceWinPolicy": {"id": "applied", "name": "Baseline"}}
    policy = AWinDevice.model_validate(both).policy
    assert policy is not None
    assert (policy.id, policy.name) == ("applied", "Baseline")
    assert AWinDevice.model_validate({}).policy is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        (False, False),
        (True, True),
        ({"date": "2026-01-01T00:00:00Z", "message": "timeout"}, True),
        ({}, False),
        ("2026-01-01T00:00:00Z", True),
        ("", False),
    ],
)
def test_sync_error_shapes(raw: Any, expected: bool | None) -> None:
    assert AWinDevice.model_validate({"lastSyncError": raw}).sync_error is expected


def test_failed_csp_nodes_are_listed() -> None:
    device = AWinDevice.model_validate(
        {
            "config": {
                "./Device/A": "1",
                "./Device/B": {"isError": True, "status": 404, "reason": "CommandNotFound"},
                "./Device/C": {"isError": "false"},
            }
        }
    )
    assert device.config_errors == ("./Device/B",)


def test_mapping_leaves_unknown_facts_out_and_uses_catalogue_names() -> None:
    bare = to_device("win", AWinDevice.model_validate({"id": "d1", "state": "ACTIVE"}))
    assert "compliance" not in bare.attrs
    assert "refresh_info_needed" not in bare.attrs
    assert "sync_error" not in bare.attrs
    assert bare.last_check_in is None

    full = to_device(
        "win",
        AWinDevice.model_validate(
            {
                "id": "d2",
                "displayName": "",
                "summary": {"name": "DESKTOP-1", "compliance": {"compliant": False}},
                "refreshInfoNeeded": [],
                "lastStatusReportTime": "2026-02-01T08:00:00.000Z",
                "enrolledDate": "2025-01-01T00:00:00.000Z",
                "lastSyncError": {"message": "x"},
                "mdmUser": {"id": "u", "email": "ana@example.com"},
                "deviceWinPolicy": {"id": "p", "name": "Baseline"},
            }
        ),
    )
    assert full.name == "DESKTOP-1"
    assert full.attrs["compliance"] is False
    assert full.attrs["refresh_info_needed"] == ()
    assert full.attrs["sync_error"] is True
    assert full.last_check_in == datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
    assert full.user_email == "ana@example.com"
    assert (full.blueprint_id, full.blueprint_name) == ("p", "Baseline")
    # The facts mapped here carry the names the rule engine's catalogue gives them.
    kind = SourceKind("applivery")
    reportable = {n for n, spec in DEVICE_FIELDS.items() if spec.reported_by(kind)}
    assert {"compliance", "sync_error", "refresh_info_needed", "last_enrollment"} <= set(
        full.attrs
    ) & reportable


def test_failed_csp_nodes_and_imei_reach_the_device_facts() -> None:
    device = to_device(
        "win",
        AWinDevice.model_validate(
            {
                "id": "d3",
                "summary": {"imei": "350000000000001"},
                "config": {"./Device/B": {"isError": True}, "./Device/A": "1"},
            }
        ),
    )
    assert device.attrs["imei"] == "350000000000001"
    assert device.attrs["config.error_count"] == 1
    assert device.attrs["config.errors"] == ("./Device/B",)
    healthy = to_device("win", AWinDevice.model_validate({"id": "d4"}))
    assert healthy.attrs["config.error_count"] == 0
    assert "config.errors" not in healthy.attrs
