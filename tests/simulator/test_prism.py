"""Prism tables of the simulated tenant: documented shapes, paging by offset and by
cursor, the JSON filter, blueprint and family selection."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from monitor.clock import FakeClock
from tests.simulator.conftest import StartSim, assert_same_keys, example

PRISM = "prism"

DOCUMENTED = {
    "device_information": f"{PRISM}/device-information/03-get-devices-by-assigned-user-name.json",
    "filevault": f"{PRISM}/filevault/01-success.json",
    "apps": f"{PRISM}/applications/01-success.json",
    "gatekeeper_and_xprotect": f"{PRISM}/gatekeeper-and-xprotect/01-success.json",
    "application_firewall": f"{PRISM}/application-firewall/01-success.json",
    "activation_lock": f"{PRISM}/activation-lock/01-success.json",
}


async def prism(
    http: aiohttp.ClientSession, base: str, category: str, **params: Any
) -> tuple[int, Any]:
    query = {k: json.dumps(v) if k == "filter" else str(v) for k, v in params.items()}
    async with http.get(f"{base}/api/v1/prism/{category}", params=query) as response:
        return response.status, await response.json()


async def every_row(
    http: aiohttp.ClientSession, base: str, category: str, **params: Any
) -> list[dict[str, Any]]:
    """All rows of a cursor read, page after page."""
    rows: list[dict[str, Any]] = []
    status, body = await prism(http, base, category, limit=300, **params)
    while True:
        assert status == 200, body
        rows.extend(body["data"])
        if body["cursor"] is None:
            return rows
        status, body = await prism(http, base, category, limit=300, cursor=body["cursor"])


@pytest.mark.parametrize("category", sorted(DOCUMENTED))
async def test_rows_have_the_documented_keys(
    start_sim: StartSim, http: aiohttp.ClientSession, category: str
) -> None:
    base, _ = await start_sim()
    status, body = await prism(http, base, category, limit=5)
    assert status == 200
    assert len(body["data"]) == 5
    assert_same_keys(body, example(DOCUMENTED[category]))


async def test_the_count_and_an_empty_page_have_the_documented_keys(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim()
    async with http.get(f"{base}/api/v1/prism/count", params={"category": "filevault"}) as r:
        counted = await r.json()
    assert_same_keys(counted, example(f"{PRISM}/count/01-success.json"))
    macs = [i for i in sim.fleet.device_indices() if sim.fleet.platform_of(i) == "Mac"]
    assert counted == {"count": len(macs), "approximate": False}
    status, body = await prism(http, base, "filevault", filter={"device__name": {"in": ["x"]}})
    assert status == 200
    empty = example(f"{PRISM}/kernel-extensions/01-success-no-kernel-extensions.json")
    assert_same_keys(body, empty)
    assert body["data"] == []
    assert body["cursor"] is None


async def test_limit_defaults_to_25_and_is_capped_at_300(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, _ = await start_sim(devices=400)
    _, body = await prism(http, base, "device_information")
    assert (body["limit"], len(body["data"])) == (25, 25)
    _, body = await prism(http, base, "device_information", limit=1000)
    assert (body["limit"], len(body["data"])) == (300, 300)


async def test_cursor_pages_cover_the_offset_pages_exactly(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, _ = await start_sim(devices=60)
    by_cursor = await every_row(http, base, "apps")
    by_offset: list[dict[str, Any]] = []
    _, body = await prism(http, base, "apps", limit=300, offset=0)
    total = body["total"]
    while len(by_offset) < total:
        _, body = await prism(http, base, "apps", limit=300, offset=len(by_offset))
        assert body["data"]
        by_offset.extend(body["data"])
    assert total > 300  # several pages, a device's apps split across two of them
    key = [(r["device_id"], r["bundle_id"]) for r in by_cursor]
    assert key == [(r["device_id"], r["bundle_id"]) for r in by_offset]
    assert len(set(key)) == len(key)


async def test_a_cursor_walk_is_not_disturbed_by_enrolments_and_deletions(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim(devices=700)
    fleet = sim.fleet
    first_ids = [fleet.device_id(i) for i in fleet.device_indices()]
    _, body = await prism(http, base, "device_information", limit=300)
    seen = [r["device_id"] for r in body["data"]]
    fleet.remove_device(first_ids[0])  # already read: an offset reader would skip one
    fleet.add_device("Mac")
    cursor = body["cursor"]
    while cursor is not None:
        status, body = await prism(http, base, "device_information", limit=300, cursor=cursor)
        assert status == 200
        seen.extend(r["device_id"] for r in body["data"])
        cursor = body["cursor"]
    assert seen == first_ids


async def test_forged_or_unknown_cursors_are_refused(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, _ = await start_sim()
    for cursor in ("bm90LWEtY3Vyc29y", "x" * 500, "%%%"):
        status, body = await prism(http, base, "apps", cursor=cursor)
        assert status == 400
        assert "cursor" in body["detail"]


async def test_filter_operators(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim()
    fleet = sim.fleet
    macs = [fleet.device(i) for i in fleet.device_indices() if fleet.platform_of(i) == "Mac"]
    target = macs[3]
    fleet.set_filevault(target.id, False)
    off = await every_row(http, base, "filevault", filter={"status": {"eq": False}})
    assert target.id in {r["device_id"] for r in off}
    assert all(r["status"] is False for r in off)
    assert len(off) < len(macs)

    named = await every_row(
        http, base, "device_information", filter={"serial_number": {"in": [target.serial_number]}}
    )
    assert [r["device_id"] for r in named] == [target.id]
    others = await every_row(
        http, base, "device_information",
        filter={"serial_number": {"not_in": [target.serial_number]}},
    )
    assert target.id not in {r["device_id"] for r in others}
    assert len(others) == fleet.device_count - 1

    needle = target.name[2:6].upper()
    liked = await every_row(
        http, base, "device_information", filter={"device__name": {"like": [needle]}}
    )
    assert target.id in {r["device_id"] for r in liked}
    assert all(needle.lower() in r["device__name"].lower() for r in liked)

    first = macs[0].first_enrollment
    window = {"first_enrollment_date": {"or": [
        {"lt": (first - timedelta(seconds=1)).isoformat()},
        {"gt": (first + timedelta(seconds=1)).isoformat()},
    ]}}
    outside = await every_row(http, base, "device_information", filter=window)
    assert macs[0].id not in {r["device_id"] for r in outside}
    assert len(outside) >= fleet.device_count - 3


async def test_updated_at_selects_the_rows_of_devices_that_reported_since(
    start_sim: StartSim, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    base, sim = await start_sim()
    fleet = sim.fleet
    mark = clock.now()
    clock.advance(60)
    mac = next(fleet.device(i) for i in fleet.device_indices() if fleet.platform_of(i) == "Mac")
    iphone = next(
        fleet.device(i) for i in fleet.device_indices() if fleet.platform_of(i) == "iPhone"
    )
    fleet.check_in(iphone.id)
    fleet.set_filevault(mac.id, False)
    since = {"updated_at": {"gte": mark.isoformat()}}
    fresh = await every_row(http, base, "device_information", filter=since)
    # Macs check in every 15 minutes on their own, so a few more may have reported.
    ids = {r["device_id"] for r in fresh}
    assert {mac.id, iphone.id} <= ids
    assert len(ids) < fleet.device_count / 4
    assert all(r["updated_at"] >= mark.isoformat() for r in fresh)
    fv_rows = await every_row(http, base, "filevault", filter=since)
    (row,) = [r for r in fv_rows if r["device_id"] == mac.id]
    assert row["status"] is False
    assert row["last_changed_at"] is not None


async def test_blueprint_ids_and_device_families_select_rows(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim()
    fleet = sim.fleet
    bp = fleet.blueprint_of(fleet.device_indices()[0])
    in_bp = await every_row(http, base, "device_information", blueprint_ids=bp.id)
    assert {r["device_id"] for r in in_bp} == {
        fleet.device_id(i) for i in fleet.blueprint_members(bp)
    }
    ipads = await every_row(http, base, "device_information", device_families="iPad,iPhone")
    assert {r["device__family"] for r in ipads} <= {"iPad", "iPhone"}
    assert len(ipads) == sum(
        1 for i in fleet.device_indices() if fleet.platform_of(i) in ("iPad", "iPhone")
    )
    assert await every_row(http, base, "filevault", device_families="iPad") == []


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        json.dumps([1, 2]),
        json.dumps({"blueprint__id": {"eq": "x"}}),
        json.dumps({"device__family": {"in": ["Mac"]}}),
        json.dumps({"status": {"regex": ".*"}}),
        json.dumps({"status": {"in": "Mac"}}),
        json.dumps({"no_such_column": {"eq": True}}),
        json.dumps({"updated_at": {"gte": "yesterday"}}),
        "[" * 1500,
        json.dumps({"device__name": {"like": ["a" * 300]}}),
        json.dumps({"device__name": {"in": ["x"] * 500}}),
    ],
)
async def test_a_bad_filter_is_a_400_with_a_detail(
    start_sim: StartSim, http: aiohttp.ClientSession, raw: str
) -> None:
    base, _ = await start_sim()
    async with http.get(f"{base}/api/v1/prism/filevault", params={"filter": raw}) as response:
        assert response.status == 400
        body = await response.json()
    assert body["detail"].startswith("Invalid")


async def test_unknown_categories_and_families(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, _ = await start_sim()
    status, _ = await prism(http, base, "no_such_table")
    assert status == 404
    status, body = await prism(http, base, "apps", device_families="Windows")
    assert status == 400
    assert "family" in body["detail"]

