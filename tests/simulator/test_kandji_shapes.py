"""Every body the simulator serves has exactly the keys of the documented examples."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest

from monitor.simulator.kandji import KandjiSimulator
from tests.simulator.conftest import StartSim, assert_same_keys, example, mac_details_example

DEVICE_INFO = "device-information"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
ISO_Z_SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
SPACE_OFFSET = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?\+00:00$")
PROFILE_DATE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000$")


def first(sim: KandjiSimulator, platform: str, *, lost: bool | None = None) -> str:
    fleet = sim.fleet
    for i in fleet.device_indices():
        if fleet.platform_of(i) != platform:
            continue
        device = fleet.device(i)
        if device.user is None:
            continue
        if lost is not None and (device.lost_mode is not None) != lost:
            continue
        return device.id
    raise AssertionError(f"no {platform} in the fleet")


async def get(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.json()


def test_the_key_comparison_notices_missing_and_extra_keys() -> None:
    documented = {"a": 1, "b": {"c": 2}, "rows": [{"x": 1}]}
    assert_same_keys({"a": 0, "b": {"c": 0}, "rows": [{"x": 0}, {"x": 1}]}, documented)
    for wrong in (
        {"a": 0, "b": {"c": 0}, "rows": [], "extra": 1},
        {"a": 0, "b": {"d": 0}, "rows": []},
        {"a": 0, "b": {"c": 0}, "rows": [{"x": 0}, {"y": 0}]},
    ):
        with pytest.raises(AssertionError):
            assert_same_keys(wrong, documented)


async def test_device_records_have_the_documented_keys_and_formats(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, _ = await start_sim()
    documented = example(f"{DEVICE_INFO}/list-devices/01-list-devices.json")[0]
    records = await get(http, f"{base}/api/v1/devices")
    assert isinstance(records, list)
    assert records
    for record in records:
        assert list(record) == list(documented)
        if record["user"] != "":
            assert_same_keys(record, documented)
        assert record["last_check_in"] == "" or ISO_Z.match(record["last_check_in"])
        assert SPACE_OFFSET.match(record["first_enrollment"])
        assert SPACE_OFFSET.match(record["last_enrollment"])
        assert isinstance(record["mdm_enabled"], bool)
        assert isinstance(record["agent_installed"], bool)
    one = await get(http, f"{base}/api/v1/devices/{records[0]['device_id']}")
    assert one == records[0]


async def test_details_match_the_example_of_each_platform(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim(devices=400)
    examples = {
        "Mac": mac_details_example(),
        "iPad": example(f"{DEVICE_INFO}/get-device-details/02-get-ipad-details.json"),
        "iPhone": example(f"{DEVICE_INFO}/get-device-details/02-get-ipad-details.json"),
    }
    for platform, documented in examples.items():
        body = await get(http, f"{base}/api/v1/devices/{first(sim, platform, lost=False)}/details")
        assert list(body) == list(documented), platform
        # lost_mode is {} when off; ABM and ADE are {} for Macs, as in the examples.
        assert_same_keys(body, documented)
        assert body["mdm"]["mdm_enabled"] in ("True", "False")
        assert SPACE_OFFSET.match(body["mdm"]["install_date"])
        assert SPACE_OFFSET.match(body["mdm"]["last_check_in"])
    mac = await get(http, f"{base}/api/v1/devices/{first(sim, 'Mac')}/details")
    assert isinstance(mac["filevault"]["filevault_enabled"], bool)
    assert all(PROFILE_DATE.match(p["install_date"]) for p in mac["installed_profiles"])
    assert mac["lost_mode"] == {}
    assert mac["cellular"] == {}

    tv_documented = example(f"{DEVICE_INFO}/get-device-details/03-get-appletv-details.json")
    tv_id = next(
        sim.fleet.device_id(i)
        for i in sim.fleet.device_indices()
        if sim.fleet.platform_of(i) == "AppleTV"
    )
    tv = await get(http, f"{base}/api/v1/devices/{tv_id}/details")
    assert list(tv) == list(tv_documented)
    assert_same_keys(tv, tv_documented)
    assert tv["filevault"]["filevault_enabled"] is None


async def test_lost_mode_bodies_match_the_examples(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim(devices=400)
    ipad = first(sim, "iPad")
    sim.fleet.set_lost_mode(ipad, True)
    details = await get(http, f"{base}/api/v1/devices/{ipad}/details")
    documented = example(f"{DEVICE_INFO}/get-device-details/04-iphone-or-ipad-in-lost-mode.json")
    assert_same_keys(details["lost_mode"], documented["lost_mode"])
    lost = await get(http, f"{base}/api/v1/devices/{ipad}/details/lostmode")
    documented = example(
        f"{DEVICE_INFO}/get-device-lost-mode-details/01-get-device-lost-mode-details.json"
    )
    assert_same_keys(lost, documented)
    record = await get(http, f"{base}/api/v1/devices/{ipad}")
    assert record["lost_mode_status"] == "ENABLED"


async def test_status_library_items_and_parameters_match_the_examples(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim()
    mac = first(sim, "Mac")
    status = await get(http, f"{base}/api/v1/devices/{mac}/status")
    assert_same_keys(status, example(f"{DEVICE_INFO}/get-device-status/01-get-device-status.json"))
    assert status["library_items"]
    assert status["parameters"]
    for row in status["library_items"]:
        assert isinstance(row["id"], int)
        assert row["reported_at"] is None or ISO_Z_SECONDS.match(row["reported_at"])

    items = await get(http, f"{base}/api/v1/devices/{mac}/library-items")
    plain = example(f"{DEVICE_INFO}/get-device-library-items/01-success.json")
    edr = example(f"{DEVICE_INFO}/get-device-library-items/02-edr-status.json")
    edr_rows = [r for r in items["library_items"] if r["type"] == "threat-security-policy"]
    other_rows = [r for r in items["library_items"] if r["type"] != "threat-security-policy"]
    assert other_rows
    assert_same_keys({**items, "library_items": other_rows}, plain)
    assert_same_keys({**items, "library_items": edr_rows}, edr)

    params = await get(http, f"{base}/api/v1/devices/{mac}/parameters")
    assert_same_keys(
        params, example(f"{DEVICE_INFO}/get-device-parameters/01-get-device-parameters.json")
    )
    iphone = first(sim, "iPhone")
    assert (await get(http, f"{base}/api/v1/devices/{iphone}/parameters"))["parameters"] == []


async def test_apps_and_activity_match_the_examples(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim()
    mac_apps = await get(http, f"{base}/api/v1/devices/{first(sim, 'Mac')}/apps")
    assert_same_keys(mac_apps, example(f"{DEVICE_INFO}/get-device-apps/01-mac-apps.json"))
    assert mac_apps["apps"]
    ipad_apps = await get(http, f"{base}/api/v1/devices/{first(sim, 'iPad')}/apps")
    assert_same_keys(ipad_apps, example(f"{DEVICE_INFO}/get-device-apps/02-ipad-apps.json"))
    assert ipad_apps["apps"]

    activity = await get(http, f"{base}/api/v1/devices/{first(sim, 'Mac')}/activity")
    documented = example(
        f"{DEVICE_INFO}/get-device-activity/02-get-device-activity-with-blueprint-routing.json"
    )
    details_free = frozenset({"$.activity.results[].details"})
    assert_same_keys(activity, documented, free=details_free)
    assert activity["activity"]["results"]
    for entry in activity["activity"]["results"]:
        assert ISO_Z.match(entry["created_at"])


async def test_blueprint_and_library_item_pages_match_the_examples(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim()
    blueprints = await get(http, f"{base}/api/v1/blueprints")
    # params maps parameter ids to settings: its keys are data, not schema.
    assert_same_keys(
        blueprints,
        example("blueprints/list-blueprints/01-success.json"),
        free=frozenset({"$.results[].params"}),
    )
    assert blueprints["count"] == len(sim.fleet.blueprints)
    assert sum(bp["computers_count"] for bp in blueprints["results"]) == sim.fleet.device_count
    bp_id = blueprints["results"][0]["id"]
    one = await get(http, f"{base}/api/v1/blueprints/{bp_id}")
    assert one == blueprints["results"][0]

    listed = await get(http, f"{base}/api/v1/blueprints/{bp_id}/list-library-items")
    assert_same_keys(listed, example("blueprints/list-library-items/01-success.json"))
    assert listed["count"] == len(listed["results"]) > 0

    item = next(it for it in sim.fleet.items if it.type == "custom-script")
    statuses = await get(http, f"{base}/api/v1/library/library-items/{item.id}/status")
    assert_same_keys(statuses, example("library-items/get-library-item-statuses/01-success.json"))
    assert statuses["count"] == len(sim.fleet.item_scope(item)) > 0

    edr = next(it for it in sim.fleet.items if it.type == "threat-security-policy")
    edr_statuses = await get(http, f"{base}/api/v1/library/library-items/{edr.id}/status")
    assert_same_keys(
        edr_statuses, example("library-items/get-library-item-statuses/02-edr-status.json")
    )
