"""The simulated audit feed: what the fleet's changes record, the documented shapes, the
required parameters and cursor paging in both orders."""

from __future__ import annotations

from typing import Any

import aiohttp

from monitor.clock import FakeClock
from monitor.simulator.kandji import KandjiSimulator
from tests.simulator.conftest import StartSim, assert_same_keys, example

DOCUMENTED = example("audit-log/list-audit-events/01-success.json")


async def feed(http: aiohttp.ClientSession, base: str, **params: Any) -> tuple[int, Any]:
    query = {k: str(v) for k, v in params.items()}
    async with http.get(f"{base}/api/v1/audit/events", params=query) as response:
        return response.status, await response.json()


async def walk(http: aiohttp.ClientSession, base: str, sort_by: str, limit: int) -> list[Any]:
    """Every event, following ``next`` links."""
    status, body = await feed(http, base, limit=limit, sort_by=sort_by)
    events = []
    while True:
        assert status == 200, body
        events.extend(body["results"])
        if body["next"] is None:
            return events
        async with http.get(body["next"]) as response:
            status, body = response.status, await response.json()


def make_changes(sim: KandjiSimulator) -> dict[str, str]:
    fleet = sim.fleet
    bp = fleet.blueprints[0]
    outside = next(it for it in fleet.items if it.index not in bp.item_indices)
    fleet.assign_library_item(bp.id, outside.id)
    fleet.edit_library_item(outside.id, name="Renamed item")
    new_bp = fleet.create_blueprint("Audit test")
    enrolled = fleet.add_device("Mac")
    gone = fleet.device_id(fleet.device_indices()[0])
    fleet.remove_device(gone)
    return {"blueprint": bp.id, "item": outside.id, "new_bp": new_bp, "enrolled": enrolled,
            "gone": gone}


async def test_changes_land_in_the_feed_with_the_documented_shapes(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim()
    ids = make_changes(sim)
    status, body = await feed(http, base, limit=500, sort_by="-occurred_at")
    assert status == 200
    assert set(body) == set(DOCUMENTED)
    documented = {
        (e["action"], e["target_type"], e["target_component"]): e for e in DOCUMENTED["results"]
    }
    events = body["results"]
    kinds = [(e["action"], e["target_type"], e["target_component"], e["target_id"]) for e in events]
    assert kinds[:5] == [
        ("delete", "device", "", ids["gone"]),
        ("create", "device", "", ids["enrolled"]),
        ("create", "blueprint", "", ids["new_bp"]),
        ("update", "library_item", "", ids["item"]),
        ("update", "blueprint", "library_items", ids["blueprint"]),
    ]
    for event in events:
        kind = (event["action"], event["target_type"], event["target_component"])
        if kind in documented:
            assert_same_keys(event, documented[kind])
        else:  # device events: the examples show none, only the envelope is known
            assert_same_keys(
                event, DOCUMENTED["results"][0], free=frozenset({"$.new_state", "$.metadata"})
            )
    assignment = events[4]["new_state"]
    assert [r["id"] for r in assignment["library_items_added"]] == [ids["item"]]
    assert ids["item"] in {r["id"] for r in assignment["library_items_scoped"]}
    assert events[3]["new_state"]["name"] == "Renamed item"
    # ULIDs sort like the events' times.
    assert [e["id"] for e in events] == sorted((e["id"] for e in events), reverse=True)


async def test_assignment_changes_what_the_blueprint_lists(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim()
    fleet = sim.fleet
    bp = fleet.blueprints[0]
    dropped = fleet.items[bp.item_indices[0]]
    fleet.remove_library_item(bp.id, dropped.id)
    async with http.get(f"{base}/api/v1/blueprints/{bp.id}/list-library-items") as response:
        listed = {r["id"] for r in (await response.json())["results"]}
    assert dropped.id not in listed
    assert len(listed) == len(bp.item_indices) - 1


async def test_cursor_walks_cover_the_feed_in_both_orders(
    start_sim: StartSim, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    base, sim = await start_sim()
    for k in range(7):
        clock.advance(1)
        sim.fleet.create_blueprint(f"bp {k}")
    total = len(sim.fleet.audit.events)
    oldest_first = await walk(http, base, "occurred_at", limit=3)
    newest_first = await walk(http, base, "-id", limit=4)
    assert len(oldest_first) == total
    assert [e["id"] for e in newest_first] == [e["id"] for e in reversed(oldest_first)]


async def test_a_tail_sees_events_that_arrive_while_it_pages(
    start_sim: StartSim, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    base, sim = await start_sim()
    _, body = await feed(http, base, limit=2, sort_by="occurred_at")
    seen = [e["id"] for e in body["results"]]
    clock.advance(5)
    late = sim.fleet.add_device("iPad")
    while body["next"] is not None:
        async with http.get(body["next"]) as response:
            body = await response.json()
        seen.extend(e["id"] for e in body["results"])
    assert len(seen) == len(set(seen)) == len(sim.fleet.audit.events)
    assert sim.fleet.audit.events[-1].target_id == late


async def test_required_parameters_bounds_and_dates(
    start_sim: StartSim, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    base, sim = await start_sim()
    status, body = await feed(http, base, sort_by="id")
    assert (status, body) == (400, {"limit": ["This field is required."]})
    status, body = await feed(http, base, limit=10)
    assert (status, body) == (400, {"sort_by": ["This field is required."]})
    status, _ = await feed(http, base, limit=10, sort_by="name")
    assert status == 400
    status, body = await feed(http, base, limit=10, sort_by="id", cursor="Zm9v")
    assert status == 400
    clock.advance(86400 * 3)
    sim.fleet.create_blueprint("recent")
    since = clock.now().date().isoformat()
    status, body = await feed(http, base, limit=100_000, sort_by="id", start_date=since)
    assert status == 200
    assert [e["new_state"]["name"] for e in body["results"]] == ["recent"]
    status, body = await feed(http, base, limit=100_000, sort_by="id", end_date="2000-01-01")
    assert (status, body["results"]) == (200, [])
