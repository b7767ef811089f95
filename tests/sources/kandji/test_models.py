"""Every documented example body of the endpoints the monitor reads parses into its model."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from monitor.sources.kandji.details import KDeviceDetails, KLostModeDetails
from monitor.sources.kandji.models import (
    KNOWN_LIBRARY_ITEM_STATUSES,
    KNOWN_PARAMETER_STATUSES,
    KBlueprint,
    KBlueprintLibraryItem,
    KDevice,
    KDeviceActivity,
    KDeviceApps,
    KDeviceLibraryItem,
    KDeviceLibraryItems,
    KDeviceParameters,
    KDeviceStatus,
    KLibraryItemStatusRow,
    KPage,
    KParameter,
    is_known_library_item_status,
    is_known_parameter_status,
    parse_device_list,
)
from monitor.sources.lenient import parse_bool, parse_timestamp
from tests.fixtures import documented_kandji_folders
from tests.sources.conftest import EXAMPLES, mac_details_example

Parser = Callable[[Any], object]


def _model(model: type[BaseModel]) -> Parser:
    return model.model_validate


# Example folder -> how its bodies parse. One entry per endpoint the client reads.
PARSERS: dict[str, Parser] = {
    "device-information/list-devices": parse_device_list,
    "device-information/get-device": _model(KDevice),
    "device-information/update-device": _model(KDevice),
    "device-information/get-device-details": _model(KDeviceDetails),
    "device-information/get-device-status": _model(KDeviceStatus),
    "device-information/get-device-library-items": _model(KDeviceLibraryItems),
    "device-information/get-device-parameters": _model(KDeviceParameters),
    "device-information/get-device-apps": _model(KDeviceApps),
    "device-information/get-device-activity": _model(KDeviceActivity),
    "device-information/get-device-lost-mode-details": _model(KLostModeDetails),
    "blueprints/list-blueprints": _model(KPage[KBlueprint]),
    "blueprints/list-library-items": _model(KPage[KBlueprintLibraryItem]),
    "library-items/get-library-item-statuses": _model(KPage[KLibraryItemStatusRow]),
}

# Bodies that are documented error answers, not responses of a model.
ERROR_BODIES = {
    "device-information/get-device-lost-mode-details/02-device-not-in-lost-mode.json":
        "the 400 answer for a device not in Lost Mode (an array of strings)",
}

# Device Information folders that are not among the operations the client reads.
OUT_OF_SCOPE = {
    "get-device-notes",
    "create-device-note",
    "retrieve-device-note",
    "update-device-note",
    "delete-device-note",
}


def _example_files() -> list[Any]:
    params: list[Any] = []
    for folder in sorted(PARSERS):
        for path in sorted((EXAMPLES / folder).iterdir()):
            rel = f"{folder}/{path.name}"
            marks = []
            if path.suffix == ".txt":
                marks.append(pytest.mark.skip(reason=f"{rel} is not strict JSON in the docs"))
            elif rel in ERROR_BODIES:
                marks.append(pytest.mark.skip(reason=f"{rel} is {ERROR_BODIES[rel]}"))
            params.append(pytest.param(folder, path, id=rel, marks=marks))
    return params


def test_every_device_information_folder_is_covered_or_named_out_of_scope() -> None:
    folders = documented_kandji_folders("device-information")
    covered = {f.split("/", 1)[1] for f in PARSERS if f.startswith("device-information/")}
    assert folders - covered == OUT_OF_SCOPE


@pytest.mark.parametrize(("folder", "path"), _example_files())
def test_example_body_parses(folder: str, path: Path) -> None:
    body = json.loads(path.read_text(encoding="utf-8"))
    parsed = PARSERS[folder](body)
    assert parsed is not None
    # Nothing is lost: every top-level key of an object body survives the round trip.
    if isinstance(body, dict) and isinstance(parsed, BaseModel):
        dumped = parsed.model_dump()
        assert set(body) <= set(dumped)


def test_mac_details_example_parses_once_the_doc_placeholder_is_removed() -> None:
    details = KDeviceDetails.model_validate(mac_details_example())
    assert details.filevault.filevault_enabled is False
    assert details.mdm.mdm_enabled is True  # "True" in the body
    assert details.mdm.supervised is True
    assert details.kandji_agent.installed is True
    assert details.users.regular_users[0].admin is True  # "Yes"
    first_profile = details.installed_profiles[0]
    assert first_profile.install_date == datetime(2024, 5, 13, 20, 9, 23, tzinfo=UTC)
    assert details.general.assigned_user is not None
    assert details.general.assigned_user.email == "accuhive.admin@kandji.io"


def _load(rel: str) -> Any:
    return json.loads((EXAMPLES / rel).read_text(encoding="utf-8"))


def test_device_list_keeps_empty_user_as_none_and_parses_both_timestamp_formats() -> None:
    (iphone,) = parse_device_list(_load("device-information/list-devices/04-list-iphone-only.json"))
    assert iphone.user is None
    assert iphone.mdm_enabled is False
    assert iphone.last_check_in == datetime(2022, 7, 12, 22, 55, 35, 440699, tzinfo=UTC)
    assert iphone.first_enrollment == datetime(2022, 7, 12, 22, 54, 49, 521027, tzinfo=UTC)


def test_device_with_empty_last_check_in_has_none() -> None:
    ipad = KDevice.model_validate(_load("device-information/get-device/02-get-ipad.json"))
    assert ipad.last_check_in is None
    assert ipad.lost_mode_status == ""  # absent in that example: defaulted


def test_lone_device_object_is_read_as_a_list_of_one() -> None:
    body = _load("device-information/list-devices/02-query-for-specific-serial-number.json")
    (device,) = parse_device_list(body)
    assert device.serial_number == "FVHHFKF7Q6L4"


def test_details_of_a_device_in_lost_mode() -> None:
    details = KDeviceDetails.model_validate(
        _load("device-information/get-device-details/04-iphone-or-ipad-in-lost-mode.json")
    )
    assert details.lost_mode.lost_mode_status == "ENABLED"
    assert details.filevault.filevault_enabled is None  # null on iPadOS
    assert details.kandji_agent.installed is False  # "False"
    assert details.lost_mode.last_location is not None
    assert details.lost_mode.disable_status_at is None  # ""


def test_windows_and_android_details_use_their_own_keys() -> None:
    windows = KDeviceDetails.model_validate(
        _load("device-information/get-device-details/05-get-windows-device.json")
    )
    assert windows.kandji_agent.installed is True  # is_agent_installed, a real boolean
    assert windows.kandji_agent.checked_in == datetime(2025, 10, 9, 21, 56, 53, 569715, tzinfo=UTC)
    android = KDeviceDetails.model_validate(
        _load("device-information/get-device-details/06-get-android-device-details.json")
    )
    assert android.general.assigned_user is None  # null
    assert android.security.is_encrypted is True
    assert android.management.ownership == "COMPANY_OWNED"


def test_apps_of_each_platform_have_an_identifier() -> None:
    for name, family in [
        ("01-mac-apps.json", "apple"),
        ("02-ipad-apps.json", "apple"),
        ("03-windows-device-apps.json", "windows"),
        ("04-android-device-apps.json", "android"),
    ]:
        apps = KDeviceApps.model_validate(_load(f"device-information/get-device-apps/{name}"))
        assert apps.apps, name
        assert all(a.identifier for a in apps.apps), name
        assert {a.family for a in apps.apps} == {family}, name


def test_ipad_app_string_booleans() -> None:
    apps = KDeviceApps.model_validate(_load("device-information/get-device-apps/02-ipad-apps.json"))
    app = apps.apps[0]
    assert app.app_store_vendable is False
    assert app.device_based_vpp is True


def test_activity_page_is_nested_under_activity() -> None:
    activity = KDeviceActivity.model_validate(
        _load("device-information/get-device-activity/02-get-device-activity-with-blueprint-routing.json")
    )
    assert activity.activity.count == 19
    first = activity.activity.results[0]
    assert first.blueprint is None
    assert first.blueprint_routing is True


def test_library_item_status_rows_name_the_device_and_keep_edr_status() -> None:
    page = KPage[KLibraryItemStatusRow].model_validate(
        _load("library-items/get-library-item-statuses/02-edr-status.json")
    )
    assert page.count == 3
    first, second, _ = page.results
    assert first.device_id == "912bc505-a7ee-4d0b-906d-2102f332a4b3"
    assert first.edr_status is not None
    assert first.edr_status.malware_posture == "Protect"
    assert second.edr_status is None


def test_profile_status_keeps_its_lower_case() -> None:
    items = KDeviceLibraryItems.model_validate(
        _load("device-information/get-device-library-items/01-success.json")
    )
    profile = next(i for i in items.library_items if i.type == "profile")
    assert profile.status == "pending"
    assert profile.status_known


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-07-23T14:11:37.150080Z", datetime(2024, 7, 23, 14, 11, 37, 150080, tzinfo=UTC)),
        ("2024-01-26 16:15:36.087016+00:00", datetime(2024, 1, 26, 16, 15, 36, 87016, tzinfo=UTC)),
        ("2024-05-13 20:09:23 +0000", datetime(2024, 5, 13, 20, 9, 23, tzinfo=UTC)),
        ("2024-05-13 22:09:23 +0200", datetime(2024, 5, 13, 20, 9, 23, tzinfo=UTC)),
        ("2023-10-13 16:15:00.000000", datetime(2023, 10, 13, 16, 15, tzinfo=UTC)),
        ("Feb 27, 2024 at 7:34:21 AM", datetime(2024, 2, 27, 7, 34, 21, tzinfo=UTC)),
        ("Feb 27, 2024 at 7:34:21 PM", datetime(2024, 2, 27, 19, 34, 21, tzinfo=UTC)),
        ("", None),
        ("   ", None),
        (None, None),
        ("1 month ago", None),
        (True, None),
    ],
)
def test_parse_timestamp(raw: object, expected: datetime | None) -> None:
    assert parse_timestamp(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        (False, False),
        ("True", True),
        ("False", False),
        ("true", True),
        ("Yes", True),
        ("No", False),
        ("", None),
        (None, None),
        ("maybe", None),
        (1, True),
        (0, False),
    ],
)
def test_parse_bool(raw: object, expected: bool | None) -> None:
    assert parse_bool(raw) is expected


def test_unknown_status_is_kept_and_reported_unknown() -> None:
    row = KDeviceLibraryItem.model_validate({"item_id": "x", "status": "QUARANTINED"})
    assert row.status == "QUARANTINED"
    assert not row.status_known
    param = KParameter.model_validate({"item_id": "p", "status": "SNOOZED"})
    assert param.status == "SNOOZED"
    assert not param.status_known


def test_documented_statuses_are_known_in_their_exact_case() -> None:
    assert len(KNOWN_LIBRARY_ITEM_STATUSES) == 13
    assert len(KNOWN_PARAMETER_STATUSES) == 6
    assert is_known_library_item_status("failed")
    assert not is_known_library_item_status("FAILED")
    assert is_known_parameter_status("REMEDIATED")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"device_id": None, "user": None, "tags": None, "mdm_enabled": "", "last_check_in": 0},
        {"user": {"id": 1234, "email": "a@b.c"}, "is_missing": "True", "new_field": [1, 2]},
        {"user": [], "tags": "solo", "blueprint_id": 42},
    ],
)
def test_device_record_tolerates_odd_shapes(body: dict[str, Any]) -> None:
    device = KDevice.model_validate(body)
    assert isinstance(device.device_id, str)
    assert isinstance(device.tags, list)


def test_user_with_legacy_integer_id_becomes_text() -> None:
    device = KDevice.model_validate({"user": {"id": 1234, "email": "a@b.c"}})
    assert device.user is not None
    assert device.user.id == "1234"


def test_details_sections_in_the_wrong_shape_parse_as_empty() -> None:
    details = KDeviceDetails.model_validate(
        {"filevault": [], "lost_mode": "", "volumes": None, "users": None, "general": 3}
    )
    assert details.filevault.filevault_enabled is None
    assert details.lost_mode.lost_mode_status == ""
    assert details.volumes == []
