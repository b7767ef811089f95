"""Kandji models -> the shared vocabulary (Device, Subject)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.models import SourceKind, SubjectKind
from monitor.sources.kandji.details import KDeviceDetails
from monitor.sources.kandji.mapping import (
    app_subject,
    library_item_status_row_subject,
    library_item_subject,
    parameter_subject,
    to_device,
)
from monitor.sources.kandji.models import (
    KDevice,
    KDeviceApps,
    KDeviceLibraryItem,
    KDeviceLibraryItems,
    KDeviceStatus,
    KLibraryItemStatusRow,
    KPage,
    KParameter,
    parse_device_list,
)
from tests.sources.conftest import example, mac_details_example


def mac() -> KDevice:
    return parse_device_list(example("device-information/list-devices/01-list-devices.json"))[0]


def test_device_record_fields_and_attrs() -> None:
    device = to_device("acme", mac())
    assert device.source == "acme"
    assert device.source_kind == SourceKind("kandji")
    assert device.device_id == "03f81208-2b6a-4a77-81f5-cf1633bcfb95"
    assert device.name == "accuhive's MacBook Air"
    assert (device.serial, device.platform, device.os_version) == ("FVHHFKF7Q6L4", "Mac", "14.4.1")
    assert device.blueprint_name == "main hive"
    assert device.user_email == "accuhive.admin@kandji.io"
    assert device.last_check_in == datetime(2024, 7, 23, 14, 11, 37, 150080, tzinfo=UTC)
    assert device.tags == ("accuhive_02",)
    assert device.field("mdm.enabled") is True
    assert device.field("agent.installed") is True
    assert device.field("is_missing") is False
    assert device.field("lost_mode_status") == ""
    assert device.field("lost_mode.enabled") is False
    assert device.field("agent.version") == "4.5.9 (5160)"
    assert device.field("user.assigned") is True
    assert device.field("os_version") == "14.4.1"
    # Without details, detail facts are absent, not False.
    assert device.field("filevault.enabled") is None
    assert "filevault.enabled" not in device.attrs


def test_device_without_a_user_has_no_email() -> None:
    body = example("device-information/list-devices/04-list-iphone-only.json")
    (iphone,) = parse_device_list(body)
    device = to_device("acme", iphone)
    assert device.user_email == ""
    assert device.field("user.assigned") is False
    assert device.field("mdm.enabled") is False


def test_mac_details_are_flattened_into_dotted_attrs() -> None:
    details = KDeviceDetails.model_validate(mac_details_example())
    device = to_device("acme", mac(), details)
    expected: dict[str, Any] = {
        "filevault.enabled": False,
        "filevault.prk_escrowed": False,
        "disk_encryption.enabled": False,
        "mdm.enabled": True,
        "mdm.supervised": True,
        "agent.installed": True,
        "activation_lock.supported": True,
        "remote_desktop.enabled": True,
        "system_version": "14.4.1 (23E224)",
        "users.admin_count": 1,
        "users.admins": ("testuser",),
        "profiles.count": 4,
        "recovery_lock.enabled": True,
        "firmware_password.exists": False,
    }
    for key, value in expected.items():
        assert device.field(key) == value, key
    assert device.field("agent.last_check_in") == datetime(
        2024, 7, 23, 14, 26, 49, 166267, tzinfo=UTC
    )
    assert "com.kandji.profile.mdmprofile" in device.field("profiles.identifiers")


def test_lost_mode_details_mark_the_device_in_lost_mode() -> None:
    details = KDeviceDetails.model_validate(
        example("device-information/get-device-details/04-iphone-or-ipad-in-lost-mode.json")
    )
    ipad = parse_device_list(example("device-information/list-devices/05-list-ipad-only.json"))[0]
    device = to_device("acme", ipad, details)
    assert device.field("lost_mode_status") == "ENABLED"
    assert device.field("lost_mode.enabled") is True
    assert device.field("lost_mode.enabled_by") == "Accuhive admin"
    assert device.field("agent.installed") is False  # "False" in details
    assert "filevault.enabled" not in device.attrs  # null on iPadOS: unknown, not off
    assert device.field("ade.enrolled") is True


@pytest.mark.parametrize(
    ("device_file", "details_file", "expected"),
    [
        (
            "get-device/03-get-windows-device.json",
            "get-device-details/05-get-windows-device.json",
            {"agent.installed": True, "windows.os_edition": "Professional",
             "windows.os_build": "26100.6584", "full_software_version": "10.0.26100.6584"},
        ),
        (
            "get-device/04-get-android-device.json",
            "get-device-details/06-get-android-device-details.json",
            {"disk_encryption.enabled": True, "android.device_posture": "SECURE",
             "android.ownership": "COMPANY_OWNED", "android.has_passcode": True,
             "security_patch_level": "2024-12-05"},
        ),
    ],
)
def test_windows_and_android_details(
    device_file: str, details_file: str, expected: dict[str, Any]
) -> None:
    record = KDevice.model_validate(example(f"device-information/{device_file}"))
    details = KDeviceDetails.model_validate(example(f"device-information/{details_file}"))
    device = to_device("acme", record, details)
    for key, value in expected.items():
        assert device.field(key) == value, key


def test_library_item_subject_keeps_status_type_and_logs() -> None:
    status = KDeviceStatus.model_validate(
        example("device-information/get-device-status/01-get-device-status.json")
    )
    subject = library_item_subject(status.library_items[0])
    assert subject.kind is SubjectKind.LIBRARY_ITEM
    assert subject.id == "4a98cb3d-3b55-46bf-829d-7dd7bd6ed832"
    assert (subject.name, subject.status, subject.type) == ("zoom", "PASS", "custom-app")
    assert subject.field("last_audit_log").startswith("Executing audit script")
    assert subject.field("reported_at") == datetime(2021, 5, 11, 19, 45, 19, tzinfo=UTC)
    assert subject.field("status_known") is True
    assert subject.field("is_profile") is False


def test_profile_subject_keeps_lower_case_status() -> None:
    items = KDeviceLibraryItems.model_validate(
        example("device-information/get-device-library-items/01-success.json")
    )
    profile = next(library_item_subject(i) for i in items.library_items if i.type == "profile")
    assert profile.status == "pending"
    assert profile.field("is_profile") is True
    assert profile.field("blueprint_name") == "_testing_apple_silicon"


def test_unknown_library_item_status_is_kept_and_flagged() -> None:
    subject = library_item_subject(
        KDeviceLibraryItem.model_validate({"item_id": "i", "name": "n", "status": "QUARANTINED"})
    )
    assert subject.status == "QUARANTINED"
    assert subject.field("status_known") is False


def test_edr_status_goes_to_attrs() -> None:
    items = KDeviceLibraryItems.model_validate(
        example("device-information/get-device-library-items/02-edr-status.json")
    )
    subject = library_item_subject(items.library_items[0])
    assert subject.field("edr.status") == "enabled"
    assert subject.field("edr.malware_posture") == "Protect"


def test_parameter_subject() -> None:
    subject = parameter_subject(
        KParameter.model_validate(
            {"status": "ERROR", "item_id": "1e4be748", "name": "Disable root",
             "category": "User Accounts & Authentication", "subcategory": "User Accounts"}
        )
    )
    assert subject.kind is SubjectKind.PARAMETER
    assert (subject.id, subject.status) == ("1e4be748", "ERROR")
    assert subject.field("category") == "User Accounts & Authentication"
    assert subject.field("status_known") is True


@pytest.mark.parametrize(
    ("file", "family", "first_id", "first_name"),
    [
        ("01-mac-apps.json", "apple", "com.apple.ActivityMonitor", "Activity Monitor"),
        ("02-ipad-apps.json", "apple", "com.okta.mobile", "Okta Verify"),
        ("03-windows-device-apps.json", "windows", "Microsoft.Copilot", "Copilot"),
        ("04-android-device-apps.json", "android", "com.android.vending", "Google Play Store"),
    ],
)
def test_app_subjects(file: str, family: str, first_id: str, first_name: str) -> None:
    apps = KDeviceApps.model_validate(example(f"device-information/get-device-apps/{file}"))
    subjects = [app_subject(a) for a in apps.apps]
    first = subjects[0]
    assert first.kind is SubjectKind.APP
    assert (first.id, first.name, first.type) == (first_id, first_name, family)
    assert first.field("version")
    assert all(s.id for s in subjects)


def test_fleet_wide_row_and_per_device_row_give_the_same_subject() -> None:
    # The same item on the same device, seen through both endpoints.
    per_device = KDeviceLibraryItem.model_validate(
        {"id": 1, "item_id": "item-9", "name": "FileVault", "status": "failed",
         "type": "profile", "reported_at": "2024-01-01T00:00:00Z", "log": "boom",
         "blueprint": {"id": "bp", "name": "Main"}}
    )
    fleet_row = KLibraryItemStatusRow.model_validate(
        {"id": 1, "computer": {"id": "dev-1", "name": "Mac"}, "status": "failed",
         "reported_at": "2024-01-01T00:00:00Z", "log": "boom",
         "blueprint": {"id": "bp", "name": "Main"}}
    )
    a = library_item_subject(per_device)
    b = library_item_status_row_subject(
        fleet_row, item_id="item-9", item_name="FileVault", item_type="profile"
    )
    assert (a.kind, a.id, a.name, a.status, a.type) == (b.kind, b.id, b.name, b.status, b.type)
    assert b.field("device_id") == "dev-1"
    shared = set(a.attrs) & set(b.attrs)
    assert {k: a.attrs[k] for k in shared} == {k: b.attrs[k] for k in shared}


def test_status_rows_from_the_example_map_to_subjects() -> None:
    page = KPage[KLibraryItemStatusRow].model_validate(
        example("library-items/get-library-item-statuses/01-success.json")
    )
    subjects = [
        library_item_status_row_subject(r, item_id="x", item_name="debug") for r in page.results
    ]
    assert [s.status for s in subjects] == ["PENDING"] * 4 + ["PASS"]
    assert subjects[-1].field("device_id") == "ce0e6bbc-1665-471a-9c4c-1c47237c773e"
