"""Reading Prism tables and the audit feed from a simulated tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from monitor.clock import FakeClock
from monitor.errors import MalformedResponseError
from monitor.simulator.kandji import KandjiSimulator, start_kandji
from monitor.sources.kandji.client import KandjiClient
from monitor.sources.kandji.feeds import (
    AuditEvent,
    PrismRow,
    iter_prism,
    read_audit_events,
    touches_assignments,
)
from tests.sources.conftest import TOKEN, Serve, kandji_config


@pytest.fixture
async def tenant() -> AsyncIterator[tuple[KandjiClient, KandjiSimulator, FakeClock]]:
    clock = FakeClock()
    runner, url, sim = await start_kandji(
        devices=700, clock=clock, token=TOKEN, per_second=None, per_hour=None
    )
    try:
        async with KandjiClient(kandji_config(url), clock=clock) as client:
            yield client, sim, clock
    finally:
        await runner.cleanup()


async def rows(client: KandjiClient, category: str, **options: Any) -> list[PrismRow]:
    out: list[PrismRow] = []
    async for page in iter_prism(client.api, category, **options):
        out.extend(page)
    return out


async def test_a_prism_table_is_read_whole_by_its_cursor(
    tenant: tuple[KandjiClient, KandjiSimulator, FakeClock],
) -> None:
    client, sim, _ = tenant
    fleet = sim.fleet
    info = await rows(client, "device_information")
    assert [r.device_id for r in info] == [fleet.device_id(i) for i in fleet.device_indices()]
    assert sim.requests.count("/api/v1/prism/{category}") == 3  # 700 rows, 300 a page
    fv = await rows(client, "filevault", device_families=["Mac"])
    assert {r.device_id for r in fv} == {
        fleet.device_id(i) for i in fleet.device_indices() if fleet.platform_of(i) == "Mac"
    }
    assert all(isinstance(r.columns["status"], bool) for r in fv)


async def test_only_rows_updated_since_are_read(
    tenant: tuple[KandjiClient, KandjiSimulator, FakeClock],
) -> None:
    client, sim, clock = tenant
    fleet = sim.fleet
    mark = clock.now()
    clock.advance(30)
    ipad = next(
        fleet.device_id(i) for i in fleet.device_indices() if fleet.platform_of(i) == "iPad"
    )
    fleet.check_in(ipad)
    fresh = await rows(client, "device_information", updated_since=mark)
    assert ipad in {r.device_id for r in fresh}
    assert len(fresh) < 100  # Macs checking in on their own schedule, and the iPad
    assert all(r.updated_at is not None and r.updated_at >= mark for r in fresh)


async def test_the_audit_feed_is_read_from_where_the_last_read_stopped(
    tenant: tuple[KandjiClient, KandjiSimulator, FakeClock],
) -> None:
    client, sim, clock = tenant
    fleet = sim.fleet
    history = await read_audit_events(client.api)
    assert len(history) == len(fleet.audit.events)
    assert touches_assignments(history)  # the blueprints' creation
    last = history[-1]
    assert await read_audit_events(client.api, after=last) == []
    clock.advance(60)
    fleet.add_device("Mac")
    devices_only = await read_audit_events(client.api, after=last)
    assert [e.target_type for e in devices_only] == ["device"]
    assert not touches_assignments(devices_only)
    clock.advance(60)
    bp = fleet.blueprints[1]
    item = next(it for it in fleet.items if it.index not in bp.item_indices)
    fleet.assign_library_item(bp.id, item.id)
    changed = await read_audit_events(client.api, after=devices_only[-1])
    assert [(e.target_type, e.target_id) for e in changed] == [("blueprint", bp.id)]
    assert touches_assignments(changed)


async def test_a_long_feed_is_paged_by_its_cursor(
    tenant: tuple[KandjiClient, KandjiSimulator, FakeClock],
) -> None:
    client, sim, clock = tenant
    for k in range(1200):
        clock.advance(1)
        sim.fleet.create_blueprint(f"bp {k}")
    events = await read_audit_events(client.api)
    assert len(events) == len(sim.fleet.audit.events)
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert sim.requests.count("/api/v1/audit/events") == 3


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"data": None, "cursor": None},
        {"data": [{"no_device_id": 1}], "cursor": None},
        {"data": [{"device_id": "d"}], "cursor": 5},
        {"data": [{"device_id": "d"}], "cursor": "c" * 1000},
    ],
)
async def test_a_malformed_prism_page_is_refused(serve: Serve, body: Any) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/api/v1/prism/{category}", answer)
    url = await serve(app)
    async with KandjiClient(kandji_config(url), clock=FakeClock(autojump=True)) as client:
        with pytest.raises(MalformedResponseError):
            await rows(client, "filevault")


@pytest.mark.parametrize(
    "body",
    [
        {"results": None, "next": None},
        {"results": [{"id": "x"}], "next": None},
        {"results": [], "next": 7},
        {"results": [], "next": "https://elsewhere.example/api/v1/audit/events?limit=5"},
    ],
)
async def test_a_malformed_audit_page_is_refused(serve: Serve, body: Any) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/api/v1/audit/events", answer)
    url = await serve(app)
    async with KandjiClient(kandji_config(url), clock=FakeClock(autojump=True)) as client:
        with pytest.raises(MalformedResponseError):
            await read_audit_events(client.api)


def test_events_order_by_their_ids() -> None:
    first = AuditEvent.model_validate(
        {"id": "01A", "occurred_at": "2025-03-04T16:29:55Z", "action": "create",
         "target_type": "device", "target_id": "d"}
    )
    assert not touches_assignments([first])
