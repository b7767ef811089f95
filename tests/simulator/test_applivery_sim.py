"""The simulated Applivery organization: a seeded fleet with every kind of problem, the
documented envelopes and paging, refreshes that complete on the simulator's clock,
rate limits, a request log, and a fleet that changes over time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from monitor.clock import FakeClock
from monitor.simulator.applivery import (
    DEVICE,
    DEVICE_INFO,
    DEVICES,
    AppliveryFleet,
    AppliverySimulator,
    device_body,
    start_applivery,
)
from tests.simulators import simulators, token_session

TOKEN = "applivery-sim-token-88"
ORG = "acme-workspace"

StartSim = Callable[..., Awaitable[tuple[str, AppliverySimulator]]]


@pytest.fixture
async def start_sim(clock: FakeClock) -> AsyncIterator[StartSim]:
    async with simulators(
        start_applivery,
        clock=clock,
        token=TOKEN,
        organization=ORG,
        devices=30,
        per_second=None,
        per_hour=None,
    ) as start:
        yield start


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with token_session(TOKEN) as session:
        yield session


async def _get(http: aiohttp.ClientSession, url: str, **params: Any) -> tuple[int, Any]:
    async with http.get(url, params=params) as resp:
        return resp.status, await resp.json(content_type=None)


def _devices_url(url: str, org: str = ORG) -> str:
    return f"{url}/organizations/{org}/mdm/windows/enterprise/devices"


def test_same_seed_same_fleet_other_seed_other_fleet(clock: FakeClock) -> None:
    def bodies(seed: int) -> list[dict[str, Any]]:
        fleet = AppliveryFleet(20, seed=seed, clock=clock)
        return [device_body(d, fleet) for d in fleet.devices]

    assert bodies(4) == bodies(4)
    assert bodies(4) != bodies(5)
    assert len({b["id"] for b in bodies(4)}) == 20


def test_a_seeded_fleet_holds_every_kind_of_problem(clock: FakeClock) -> None:
    fleet = AppliveryFleet(300, seed=2, clock=clock)
    now = clock.now()
    devices = fleet.devices
    assert any(d.compliant is False for d in devices)
    assert any(d.compliant is None for d in devices)
    assert any(d.last_report is not None and now - d.last_report > timedelta(days=7)
               for d in devices)
    assert any(d.refresh_needed for d in devices)
    assert any(d.sync_error for d in devices)
    assert any(d.config_errors for d in devices)
    states = {d.state for d in devices}
    assert states >= {"ACTIVE", "DELETED", "DELETE_REQUESTED", "UNKNOWN", "PROVISIONING"}
    # Most of it is healthy, as a real fleet is.
    healthy = [d for d in devices if d.state == "ACTIVE" and d.compliant and not d.silent]
    assert len(healthy) > len(devices) // 2


async def test_list_is_a_paginated_envelope(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    url, sim = await start_sim(devices=30)
    listed = sim.fleet.listed()
    status, body = await _get(http, _devices_url(url), page=2, limit=12)
    assert status == 200
    assert body["status"] is True
    page = body["data"]
    assert set(page) >= {
        "items", "totalDocs", "limit", "page", "totalPages",
        "hasPrevPage", "hasNextPage", "prevPage", "nextPage",
    }
    assert [i["id"] for i in page["items"]] == [d.id for d in listed[12:24]]
    assert (page["page"], page["limit"], page["totalDocs"]) == (2, 12, len(listed))
    assert page["hasPrevPage"] is True
    assert page["hasNextPage"] is (len(listed) > 24)


async def test_list_defaults_and_caps_the_limit(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    url, _ = await start_sim(max_limit=15)
    _, default = await _get(http, _devices_url(url))
    assert default["data"]["limit"] == 10
    assert len(default["data"]["items"]) == 10
    _, capped = await _get(http, _devices_url(url), limit=500)
    assert capped["data"]["limit"] == 15


async def test_deleted_devices_only_with_show_deleted(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    url, sim = await start_sim(devices=10)
    sim.fleet.set_state(sim.fleet.devices[0].id, "DELETED")
    _, hidden = await _get(http, _devices_url(url), limit=100)
    _, shown = await _get(http, _devices_url(url), limit=100, **{"show-deleted": "true"})
    hidden_ids = {i["id"] for i in hidden["data"]["items"]}
    shown_ids = {i["id"] for i in shown["data"]["items"]}
    assert sim.fleet.devices[0].id not in hidden_ids
    assert sim.fleet.devices[0].id in shown_ids
    assert len(shown_ids) == sim.fleet.device_count


async def test_organization_by_slug_or_hex_id(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    url, sim = await start_sim(devices=3)
    status_slug, by_slug = await _get(http, _devices_url(url))
    status_hex, by_hex = await _get(http, _devices_url(url, sim.fleet.organization_id))
    assert (status_slug, status_hex) == (200, 200)
    assert by_slug == by_hex
    status, org = await _get(http, f"{url}/organizations/{ORG}")
    assert status == 200
    assert org["data"]["id"] == sim.fleet.organization_id


async def test_get_one_device_by_id_serial_or_imei(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    url, sim = await start_sim()
    d = sim.fleet.devices[5]
    for key in (d.id, d.serial, d.imei):
        status, body = await _get(http, f"{_devices_url(url)}/{key}")
        assert status == 200
        assert body == {"status": True, "data": device_body(d, sim.fleet)}


@pytest.mark.parametrize(
    ("headers", "code", "message"),
    [({}, 4002, "No auth token"), ({"Authorization": "Bearer wrong"}, 4004, "Invalid Token")],
)
async def test_auth_errors_use_the_documented_envelope(
    start_sim: StartSim, headers: dict[str, str], code: int, message: str
) -> None:
    url, sim = await start_sim(devices=2)
    async with aiohttp.ClientSession(headers=headers) as anonymous:
        status, body = await _get(anonymous, _devices_url(url))
    assert status == 401
    assert body == {"status": False, "error": {"code": code, "message": message}}
    assert sim.requests.status_counts[401] == 1


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/organizations/other-org/mdm/windows/enterprise/devices", 404, 3001),
        ("/organizations/acme-workspace/mdm/windows/enterprise/devices/0123456789abcdef01234567",
         404, 3001),
        ("/organizations/acme-workspace/mdm/windows/enterprise/devices/bad-id", 400, 1001),
        ("/organizations/a!/mdm/windows/enterprise/devices", 400, 1001),
    ],
)
async def test_not_found_and_invalid_ids(
    start_sim: StartSim, http: aiohttp.ClientSession, path: str, status: int, code: int
) -> None:
    url, _ = await start_sim(devices=2)
    got, body = await _get(http, url + path)
    assert got == status
    assert body["status"] is False
    assert body["error"]["code"] == code


async def test_refresh_completes_after_the_delay_on_the_simulator_clock(
    start_sim: StartSim, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    url, sim = await start_sim(refresh_delay=120)
    d = next(x for x in sim.fleet.devices if x.state == "ACTIVE" and not x.silent)
    sim.fleet.set_refresh_needed(d.id, ["hardware", "certificates"])
    before = d.last_report
    async with http.post(f"{_devices_url(url)}/{d.id}/info", json={"info": ["hardware"]}) as r:
        assert r.status == 200
        assert await r.json() == {"status": True, "data": {"status": True}}
    [record] = sim.requests.matching(DEVICE_INFO, "POST")
    assert record.body == {"info": ["hardware"]}
    assert record.path.endswith(f"/devices/{d.id}/info")

    clock.advance(119)
    _, body = await _get(http, f"{_devices_url(url)}/{d.id}")
    assert body["data"]["refreshInfoNeeded"] == ["hardware", "certificates"]
    clock.advance(2)
    _, body = await _get(http, f"{_devices_url(url)}/{d.id}")
    assert body["data"]["refreshInfoNeeded"] == ["certificates"]
    assert d.last_report is not None
    assert before is not None
    assert d.last_report > before


async def test_refresh_of_a_device_that_does_not_answer_is_not_sent(
    start_sim: StartSim, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    url, sim = await start_sim()
    d = sim.fleet.devices[0]
    sim.fleet.go_silent(d.id, clock.now() - timedelta(days=9))
    async with http.post(f"{_devices_url(url)}/{d.id}/info", json={"info": ["hardware"]}) as r:
        assert await r.json() == {"status": True, "data": {"status": False}}


@pytest.mark.parametrize("body", [{"info": []}, {"info": ["everything"]}, {"other": 1}, [1]])
async def test_refresh_validates_its_body(
    start_sim: StartSim, http: aiohttp.ClientSession, body: Any
) -> None:
    url, sim = await start_sim()
    d = sim.fleet.devices[0]
    async with http.post(f"{_devices_url(url)}/{d.id}/info", json=body) as r:
        assert r.status == 400
        assert (await r.json())["error"]["code"] == 1001


async def test_rate_limit_answers_429_with_retry_after(
    start_sim: StartSim, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    url, _ = await start_sim(per_second=2)
    statuses = []
    for _ in range(3):
        async with http.get(_devices_url(url)) as r:
            statuses.append(r.status)
            retry_after = r.headers.get("Retry-After")
    assert statuses == [200, 200, 429]
    assert retry_after is not None
    clock.advance(1)
    async with http.get(_devices_url(url)) as r:
        assert r.status == 200


async def test_request_log_names_routes_and_statuses(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    url, sim = await start_sim()
    await _get(http, _devices_url(url))
    await _get(http, f"{_devices_url(url)}/{sim.fleet.devices[0].id}")
    async with http.get(f"{url}/no/such/route") as r:
        assert await r.text() == "Cannot GET /v1/no/such/route"
    assert sim.requests.count(DEVICES) == 1
    assert sim.requests.count(DEVICE) == 1
    assert sim.requests.records[-1].status == 404
    assert sim.requests.total == 3


def test_fleet_changes_over_time_deterministically(clock: FakeClock) -> None:
    def run(seed: int) -> list[Any]:
        c = FakeClock(clock.now())
        fleet = AppliveryFleet(200, seed=seed, clock=c)
        changes = []
        for _ in range(24):
            c.advance(timedelta(hours=1))
            changes.extend(fleet.advance(3600))
        return [(ch.device_id, ch.what, ch.new) for ch in changes]

    first, again = run(9), run(9)
    assert first == again
    kinds = {what for _, what, _ in first}
    assert {"compliant", "silent"} <= kinds
    assert len(first) > 10


async def test_background_evolution_follows_the_simulator_clock(
    start_sim: StartSim, clock: FakeClock
) -> None:
    _, sim = await start_sim(devices=100, evolve_every=600)
    await _until(lambda: clock.sleepers == 1)  # the evolve task waits on the fake clock
    assert sim.evolutions == 0
    for n in range(1, 4):
        clock.advance(600)
        await _until(lambda: sim.evolutions == n and clock.sleepers == 1)  # noqa: B023


async def _until(condition: Callable[[], bool]) -> None:
    """Let the event loop run until ``condition`` holds (bounded: no wall-clock waits)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")
