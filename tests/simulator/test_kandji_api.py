"""The simulated Kandji API over real HTTP: auth, errors, paging, writes, actions,
rate limits, faults, the request log, evolution and the demo repair."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from yarl import URL

from monitor.clock import FakeClock
from monitor.simulator.faults import FaultKind
from monitor.simulator.kandji import KandjiSimulator
from tests.simulator.conftest import TOKEN, StartSim

DEVICE_ROUTES = (
    "",
    "/details",
    "/status",
    "/library-items",
    "/parameters",
    "/apps",
    "/activity",
    "/commands",
    "/details/lostmode",
)


def a_mac(sim: KandjiSimulator) -> str:
    fleet = sim.fleet
    return next(fleet.device_id(i) for i in fleet.device_indices() if fleet.platform_of(i) == "Mac")


async def fetch(http: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> tuple[int, Any]:
    async with http.request(method, url, **kw) as response:
        text = await response.text()
        return response.status, json.loads(text) if text else None


# --- auth and errors ----------------------------------------------------------------------


async def test_requests_without_a_valid_token_get_401_with_a_detail(start_sim: StartSim) -> None:
    base, sim = await start_sim()
    url = f"{base}/api/v1/devices"
    async with aiohttp.ClientSession() as anonymous:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Token {TOKEN}"}):
            async with anonymous.get(url, headers=headers) as response:
                assert response.status == 401
                body = await response.json()
                assert set(body) == {"detail"}
                assert TOKEN not in json.dumps(body)
        async with anonymous.get(url, headers={"Authorization": f"Bearer {TOKEN}"}) as response:
            assert response.status == 200
    assert [r.status for r in sim.requests] == [401, 401, 401, 200]
    assert TOKEN not in repr(sim)


async def test_a_route_the_token_is_not_granted_answers_403(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim()
    sim.denied_routes.add("/api/v1/devices/{device_id}/apps")
    mac = a_mac(sim)
    assert (await fetch(http, "GET", f"{base}/api/v1/devices/{mac}/apps"))[0] == 403
    assert (await fetch(http, "GET", f"{base}/api/v1/devices/{mac}/status"))[0] == 200


async def test_unknown_devices_items_and_blueprints_answer_404_not_found(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, _ = await start_sim()
    ghost = "6f0e9a47-7c4d-4b8e-9a51-0d3c2b1a9f88"
    for suffix in DEVICE_ROUTES:
        status, body = await fetch(http, "GET", f"{base}/api/v1/devices/{ghost}{suffix}")
        assert (status, body) == (404, {"detail": "Not found."}), suffix
    for url in (
        f"{base}/api/v1/library/library-items/{ghost}/status",
        f"{base}/api/v1/blueprints/{ghost}",
        f"{base}/api/v1/blueprints/{ghost}/list-library-items",
    ):
        assert await fetch(http, "GET", url) == (404, {"detail": "Not found."})
    status, _ = await fetch(http, "PATCH", f"{base}/api/v1/devices/{ghost}", json={"tags": []})
    assert status == 404
    async with http.get(f"{base}/api/v1/no-such-thing") as response:
        assert response.status == 404
        assert response.content_type == "text/html"
        assert "<h1>Not Found</h1>" in await response.text()


# --- paging ---------------------------------------------------------------------------------


async def test_device_list_pages_cap_at_300_and_end_with_an_empty_list(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, _ = await start_sim(devices=700)
    url = f"{base}/api/v1/devices"
    _, default = await fetch(http, "GET", url)
    _, oversized = await fetch(http, "GET", url, params={"limit": "1000"})
    assert len(default) == len(oversized) == 300
    seen: list[str] = []
    sizes = []
    offset = 0
    while True:
        _, page = await fetch(http, "GET", url, params={"limit": "300", "offset": str(offset)})
        assert isinstance(page, list)
        if not page:
            break
        sizes.append(len(page))
        seen += [d["device_id"] for d in page]
        offset += 300
    assert sizes == [300, 300, 100]
    assert len(set(seen)) == 700


async def test_device_list_filters_by_platform_and_blueprint(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim(devices=300)
    _, iphones = await fetch(http, "GET", f"{base}/api/v1/devices", params={"platform": "iPhone"})
    expected = [i for i in sim.fleet.device_indices() if sim.fleet.platform_of(i) == "iPhone"]
    assert [d["device_id"] for d in iphones] == [sim.fleet.device_id(i) for i in expected]
    assert {d["platform"] for d in iphones} == {"iPhone"}
    bp = sim.fleet.blueprints[1]
    _, members = await fetch(http, "GET", f"{base}/api/v1/devices", params={"blueprint_id": bp.id})
    assert {d["blueprint_id"] for d in members} == {bp.id}
    assert len(members) == len(sim.fleet.blueprint_members(bp))


async def test_library_item_status_pages_link_to_each_other_with_absolute_urls(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim(devices=400)
    item = next(it for it in sim.fleet.items if it.type == "custom-script")
    url: str | None = f"{base}/api/v1/library/library-items/{item.id}/status?limit=40"
    pages = []
    while url is not None:
        _, page = await fetch(http, "GET", url)
        pages.append(page)
        url = page["next"]
    total = pages[0]["count"]
    assert total == len(sim.fleet.item_scope(item)) > 80
    rows = [row for page in pages for row in page["results"]]
    assert len(rows) == total
    assert len({row["computer"]["id"] for row in rows}) == total
    assert pages[0]["previous"] is None
    second = URL(pages[1]["previous"])
    assert str(second.origin()) == base
    assert "offset" not in second.query
    assert URL(pages[2]["previous"]).query["offset"] == "40"
    assert pages[-1]["next"] is None
    _, capped = await fetch(
        http, "GET", f"{base}/api/v1/library/library-items/{item.id}/status?limit=5000"
    )
    assert len(capped["results"]) == min(300, total)
    one = sim.fleet.device_id(sim.fleet.item_scope(item)[3])
    _, single = await fetch(
        http, "GET", f"{base}/api/v1/library/library-items/{item.id}/status?computer_id={one}"
    )
    assert [r["computer"]["id"] for r in single["results"]] == [one]


async def test_activity_is_a_page_nested_under_activity(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim()
    mac = a_mac(sim)
    _, full = await fetch(http, "GET", f"{base}/api/v1/devices/{mac}/activity")
    count = full["activity"]["count"]
    assert count == len(full["activity"]["results"]) >= 5
    _, page = await fetch(http, "GET", f"{base}/api/v1/devices/{mac}/activity?limit=2&offset=2")
    assert page["device_id"] == mac
    assert page["activity"]["results"] == full["activity"]["results"][2:4]
    assert URL(page["activity"]["next"]).query["offset"] == "4"


# --- writes and actions ----------------------------------------------------------------------


async def test_patch_replaces_the_whole_tag_list_and_clears_fields(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim()
    mac = a_mac(sim)
    url = f"{base}/api/v1/devices/{mac}"
    status, body = await fetch(http, "PATCH", url, json={"tags": ["one", "two"]})
    assert status == 200
    assert body["tags"] == ["one", "two"]
    _, body = await fetch(http, "PATCH", url, json={"tags": ["three"], "asset_tag": "IT-1"})
    assert body["tags"] == ["three"]
    assert body["asset_tag"] == "IT-1"
    _, body = await fetch(http, "PATCH", url, json={"tags": [], "user": None, "asset_tag": None})
    assert (body["tags"], body["user"], body["asset_tag"]) == ([], "", "")
    user = sim.fleet.user(3)
    target = next(bp for bp in sim.fleet.blueprints if bp.id != body["blueprint_id"])
    _, body = await fetch(http, "PATCH", url, json={"user": user.id, "blueprint_id": target.id})
    assert body["user"]["id"] == user.id
    assert (body["blueprint_id"], body["blueprint_name"]) == (target.id, target.name)
    assert (await fetch(http, "GET", url))[1] == body
    status, body = await fetch(http, "PATCH", url, json={"blueprint_id": "nope"})
    assert status == 400
    assert list(body) == ["blueprint_id"]
    patches = sim.requests.matching("/api/v1/devices/{device_id}", "PATCH")
    assert patches[0].body == {"tags": ["one", "two"]}
    assert [p.status for p in patches] == [200, 200, 200, 200, 400]


async def test_update_inventory_answers_an_empty_200_and_checks_the_device_in(
    start_sim: StartSim, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    base, sim = await start_sim()
    mac = a_mac(sim)
    sim.fleet.go_silent(mac, since=clock.now() - timedelta(days=9))
    _, before = await fetch(http, "GET", f"{base}/api/v1/devices/{mac}/activity")
    async with http.post(f"{base}/api/v1/devices/{mac}/action/updateinventory") as response:
        assert response.status == 200
        assert await response.read() == b""
        assert response.headers["Content-Length"] == "0"
    _, record = await fetch(http, "GET", f"{base}/api/v1/devices/{mac}")
    assert record["last_check_in"] == clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    _, after = await fetch(http, "GET", f"{base}/api/v1/devices/{mac}/activity")
    assert after["activity"]["count"] > before["activity"]["count"]
    assert sim.requests.count("/api/v1/devices/{device_id}/action/{action}", "POST") == 1
    async with http.post(f"{base}/api/v1/devices/{mac}/action/frobnicate") as response:
        assert response.status == 404


async def test_locking_twice_answers_the_documented_400_string(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim()
    url = f"{base}/api/v1/devices/{a_mac(sim)}/action/lock"
    status, body = await fetch(http, "POST", url)
    assert status == 200
    assert set(body) == {"PIN"}
    assert await fetch(http, "POST", url) == (400, "This device is already locked.")


async def test_lost_mode_can_be_read_and_cancelled(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim()
    fleet = sim.fleet
    iphone = next(
        fleet.device_id(i) for i in fleet.device_indices() if fleet.platform_of(i) == "iPhone"
    )
    url = f"{base}/api/v1/devices/{iphone}/details/lostmode"
    fleet.set_lost_mode(iphone, False)
    assert await fetch(http, "GET", url) == (400, ["Device is not in lost mode."])
    fleet.set_lost_mode(iphone, True)
    status, body = await fetch(http, "GET", url)
    assert status == 200
    assert body["lost_mode"]["lost_mode_status"] == "ENABLED"
    assert (await fetch(http, "DELETE", url))[0] == 204
    assert (await fetch(http, "GET", url))[0] == 400


async def test_deleted_devices_disappear(start_sim: StartSim, http: aiohttp.ClientSession) -> None:
    base, sim = await start_sim()
    mac = a_mac(sim)
    assert (await fetch(http, "DELETE", f"{base}/api/v1/devices/{mac}"))[0] == 204
    assert (await fetch(http, "GET", f"{base}/api/v1/devices/{mac}"))[0] == 404
    _, listed = await fetch(http, "GET", f"{base}/api/v1/devices")
    assert mac not in {d["device_id"] for d in listed}


# --- rate limits ------------------------------------------------------------------------------


async def test_the_per_second_limit_answers_429_with_retry_after_until_the_second_passes(
    start_sim: StartSim, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    base, sim = await start_sim(per_second=50, per_hour=10_000)
    url = f"{base}/api/v1/blueprints"
    for n in range(50):
        async with http.get(url) as response:
            assert response.status == 200
            assert response.headers["X-Ratelimit-Remaining-Second"] == str(49 - n)
            assert response.headers["X-Ratelimit-Limit-Second"] == "50"
            assert response.headers["X-Ratelimit-Limit-Hour"] == "10000"
            assert response.headers["X-Ratelimit-Remaining-Hour"] == str(9999 - n)
            assert {"Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset"} <= set(
                response.headers
            )
    async with http.get(url) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "1"
        assert response.headers["X-Ratelimit-Remaining-Second"] == "0"
    clock.advance(1)
    async with http.get(url) as response:
        assert response.status == 200
    assert sim.requests.status_counts[429] == 1


async def test_the_hourly_budget_answers_429_until_the_hour_turns(
    start_sim: StartSim, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    base, _ = await start_sim(per_second=None, per_hour=3)
    url = f"{base}/api/v1/blueprints"
    for _ in range(3):
        assert (await fetch(http, "GET", url))[0] == 200
    async with http.get(url) as response:
        assert response.status == 429
        retry_after = int(response.headers["Retry-After"])
        assert 1 < retry_after <= 3600
        assert "X-Ratelimit-Limit-Second" not in response.headers
    clock.advance(retry_after)
    assert (await fetch(http, "GET", url))[0] == 200


# --- faults ---------------------------------------------------------------------------------


async def test_fault_rules_fire_as_many_times_as_asked_then_stop(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim()
    rule = sim.add_fault(r"^/api/v1/devices$", FaultKind.UNAVAILABLE, count=2)
    statuses = [(await fetch(http, "GET", f"{base}/api/v1/devices"))[0] for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert rule.fired == 2
    assert [r.fault for r in sim.requests] == ["503", "503", None]
    sim.add_fault("/blueprints", FaultKind.SERVER_ERROR, probability=0.0)
    assert (await fetch(http, "GET", f"{base}/api/v1/blueprints"))[0] == 200


@pytest.mark.parametrize(
    ("kind", "status", "content_type"),
    [
        (FaultKind.RATE_LIMITED, 429, "application/json"),
        (FaultKind.SERVER_ERROR, 500, "text/html"),
        (FaultKind.BAD_GATEWAY, 502, "application/json"),
        (FaultKind.HTML, 404, "text/html"),
    ],
)
async def test_error_faults_answer_their_status(
    start_sim: StartSim,
    http: aiohttp.ClientSession,
    kind: FaultKind,
    status: int,
    content_type: str,
) -> None:
    base, sim = await start_sim()
    sim.add_fault("/status$", kind, retry_after=7)
    async with http.get(f"{base}/api/v1/devices/{a_mac(sim)}/status") as response:
        assert response.status == status
        assert response.content_type == content_type
        if kind is FaultKind.RATE_LIMITED:
            assert response.headers["Retry-After"] == "7"


async def test_a_malformed_fault_serves_truncated_json(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim()
    sim.add_fault("/status$", "malformed", count=1)
    url = f"{base}/api/v1/devices/{a_mac(sim)}/status"
    async with http.get(url) as response:
        assert response.status == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(await response.text())
    assert (await fetch(http, "GET", url))[0] == 200


async def test_a_reset_fault_drops_the_connection(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim()
    # aiohttp's client retries an idempotent request once on a dropped connection, so
    # two resets are needed before the caller sees the error.
    sim.add_fault("/apps$", FaultKind.RESET, count=2)
    url = f"{base}/api/v1/devices/{a_mac(sim)}/apps"
    with pytest.raises(aiohttp.ClientError):
        async with http.get(url) as response:
            await response.read()
    assert (await fetch(http, "GET", url))[0] == 200
    logged = sim.requests.matching("/api/v1/devices/{device_id}/apps")
    assert [(r.status, r.fault) for r in logged] == [(0, "reset"), (0, "reset"), (200, None)]


async def test_a_timeout_fault_holds_the_request_past_the_client_timeout(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim()
    sim.add_fault("/details$", FaultKind.TIMEOUT, count=1, delay=30)
    url = f"{base}/api/v1/devices/{a_mac(sim)}/details"
    with pytest.raises(asyncio.TimeoutError):
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=0.2)) as response:
            await response.read()
    assert (await fetch(http, "GET", url))[0] == 200


# --- request log, evolution, demo, determinism ---------------------------------------------


async def test_the_request_log_records_templates_queries_and_counts(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim()
    mac = a_mac(sim)
    await fetch(http, "GET", f"{base}/api/v1/devices", params={"limit": "10", "offset": "20"})
    await fetch(http, "GET", f"{base}/api/v1/devices/{mac}/status")
    await fetch(http, "GET", f"{base}/api/v1/devices/{mac}/status")
    first = sim.requests.records[0]
    assert (first.method, first.route, first.query, first.status) == (
        "GET",
        "/api/v1/devices",
        {"limit": "10", "offset": "20"},
        200,
    )
    assert sim.requests.count("/api/v1/devices/{device_id}/status") == 2
    assert sim.requests.total == 3
    assert sim.requests.records[-1].path == f"/api/v1/devices/{mac}/status"


async def test_the_background_evolution_changes_statuses_as_the_clock_moves(
    start_sim: StartSim, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    _, sim = await start_sim(devices=600, evolve_every=600)
    before = [bytes(t) for t in sim.fleet.status_tables]
    for _ in range(100):
        if clock.sleepers:
            break
        await asyncio.sleep(0)
    assert clock.sleepers == 1
    clock.advance(timedelta(hours=3))
    for _ in range(100):
        if sim.evolutions:
            break
        await asyncio.sleep(0)
    assert sim.evolutions == 1
    after = [bytes(t) for t in sim.fleet.status_tables]
    changed = sum(
        a != b for x, y in zip(before, after, strict=True) for a, b in zip(x, y, strict=True)
    )
    assert changed > 0


async def test_the_demo_breaks_a_script_and_repairs_it_on_time(
    start_sim: StartSim, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    base, sim = await start_sim(demo=True, demo_repair_after=60)
    plan = sim.demo_plan
    assert plan is not None
    device = plan.device_ids[0]

    async def status_of_item() -> str:
        _, body = await fetch(http, "GET", f"{base}/api/v1/devices/{device}/status")
        return str(next(i["status"] for i in body["library_items"] if i["item_id"] == plan.item_id))

    assert await status_of_item() == "ERROR"
    clock.advance(59)
    assert await status_of_item() == "ERROR"
    clock.advance(1)
    assert await status_of_item() == "PASS"


async def test_two_tenants_with_the_same_seed_serve_the_same_fleet(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base_a, _ = await start_sim(seed=11)
    base_b, _ = await start_sim(seed=11)
    base_c, _ = await start_sim(seed=12)
    bodies = [
        (await fetch(http, "GET", f"{b}/api/v1/devices"))[1] for b in (base_a, base_b, base_c)
    ]
    assert bodies[0] == bodies[1]
    assert bodies[0] != bodies[2]


async def test_latency_delays_every_answer(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim(latency_ms=400)
    url = f"{base}/api/v1/blueprints"
    with pytest.raises(asyncio.TimeoutError):
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=0.05)) as response:
            await response.read()
    sim.latency_ms = 0
    assert (await fetch(http, "GET", url))[0] == 200
