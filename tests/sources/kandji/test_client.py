"""KandjiClient against a small Kandji-shaped aiohttp app serving the documented examples."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from monitor.errors import ClientRequestError, MalformedResponseError, NotFoundError
from monitor.sources.kandji.api import DEVICE, DEVICE_STATUS, LIBRARY_ITEM_STATUS
from monitor.sources.kandji.client import KandjiClient
from tests.sources.conftest import TOKEN, RecordingClock, Serve, example, kandji_config

LOST_DEVICE = "4820db3b-dec7-40b2-9c8f-eb771ac1a250"
ITEM_ROWS = 650


class FakeKandji:
    """Just enough of a Kandji tenant to exercise every client method."""

    def __init__(self) -> None:
        template = example("device-information/list-devices/01-list-devices.json")[0]
        self.devices: list[dict[str, Any]] = []
        for i in range(7):
            record = copy.deepcopy(template)
            record["device_id"] = f"dev-{i}"
            record["platform"] = "Mac" if i % 2 == 0 else "iPad"
            self.devices.append(record)
        self.requests: list[web.Request] = []
        self.patches: list[Any] = []
        self.deletes: list[str] = []

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._record])
        r = app.router
        r.add_get("/api/v1/devices", self.list_devices)
        r.add_get("/api/v1/devices/{device_id}", self.get_device)
        r.add_patch("/api/v1/devices/{device_id}", self.patch_device)
        r.add_get("/api/v1/devices/{device_id}/details", self.fixed(
            "device-information/get-device-details/04-iphone-or-ipad-in-lost-mode.json"))
        r.add_get("/api/v1/devices/{device_id}/status", self.fixed(
            "device-information/get-device-status/01-get-device-status.json"))
        r.add_get("/api/v1/devices/{device_id}/library-items", self.fixed(
            "device-information/get-device-library-items/01-success.json"))
        r.add_get("/api/v1/devices/{device_id}/parameters", self.fixed(
            "device-information/get-device-parameters/01-get-device-parameters.json"))
        r.add_get("/api/v1/devices/{device_id}/apps", self.fixed(
            "device-information/get-device-apps/01-mac-apps.json"))
        r.add_get("/api/v1/devices/{device_id}/activity", self.fixed(
            "device-information/get-device-activity/01-get-device-activity.json"))
        r.add_get("/api/v1/devices/{device_id}/details/lostmode", self.lost_mode)
        r.add_delete("/api/v1/devices/{device_id}/details/lostmode", self.cancel_lost_mode)
        r.add_get("/api/v1/blueprints", self.fixed("blueprints/list-blueprints/01-success.json"))
        r.add_get("/api/v1/blueprints/{blueprint_id}/list-library-items", self.fixed(
            "blueprints/list-library-items/01-success.json"))
        r.add_get("/api/v1/library/library-items/{item_id}/status", self.item_status)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(request)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"detail": "Invalid token."}, status=401)
        response: web.StreamResponse = await handler(request)
        return response

    @staticmethod
    def fixed(rel: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            return web.json_response(example(rel))

        return handler

    async def list_devices(self, request: web.Request) -> web.Response:
        limit = min(int(request.query.get("limit", 300)), 300)
        offset = int(request.query.get("offset", 0))
        platform = request.query.get("platform")
        rows = [d for d in self.devices if platform is None or d["platform"] == platform]
        return web.json_response(rows[offset : offset + limit])

    async def get_device(self, request: web.Request) -> web.Response:
        for d in self.devices:
            if d["device_id"] == request.match_info["device_id"]:
                return web.json_response(d)
        return web.json_response({"detail": "Not found."}, status=404)

    async def patch_device(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.patches.append(body)
        device = next(d for d in self.devices if d["device_id"] == request.match_info["device_id"])
        device.update(body)
        return web.json_response(device)

    async def lost_mode(self, request: web.Request) -> web.Response:
        if request.match_info["device_id"] == LOST_DEVICE:
            return web.json_response(example(
                "device-information/get-device-lost-mode-details/01-get-device-lost-mode-details.json"
            ))
        return web.json_response(["Device is not in lost mode."], status=400)

    async def cancel_lost_mode(self, request: web.Request) -> web.Response:
        self.deletes.append(request.match_info["device_id"])
        return web.Response(status=204)

    async def item_status(self, request: web.Request) -> web.Response:
        limit = min(int(request.query["limit"]), 300)
        offset = int(request.query["offset"])
        rows = [
            {
                "id": n,
                "blueprint": {"id": "bp", "name": "Main"},
                "computer": {"id": f"dev-{n}", "name": f"Mac {n}"},
                "status": "ERROR" if n % 100 == 0 else "PASS",
                "reported_at": "2024-01-01T00:00:00Z",
                "log": None,
            }
            for n in range(ITEM_ROWS)
        ]
        computer = request.query.get("computer_id")
        if computer is not None:
            rows = [r for r in rows if r["computer"]["id"] == computer]  # type: ignore[index]
        nxt = offset + limit < len(rows)
        return web.json_response({
            "count": len(rows),
            "next": f"https://acme.api.kandji.io/x?offset={offset + limit}" if nxt else None,
            "previous": None,
            "results": rows[offset : offset + limit],
        })


@pytest.fixture
async def tenant(serve: Serve, clock: RecordingClock) -> tuple[FakeKandji, KandjiClient]:
    fake = FakeKandji()
    url = await serve(fake.app())
    return fake, KandjiClient(kandji_config(url, page_size=3), clock=clock)


async def test_list_devices_reads_every_page(tenant: tuple[FakeKandji, KandjiClient]) -> None:
    fake, client = tenant
    async with client:
        pages = [page async for page in client.iter_device_pages()]
        assert [len(p) for p in pages] == [3, 3, 1]
        devices = await client.list_devices()
    assert [d.device_id for d in devices] == [f"dev-{i}" for i in range(7)]
    # iter_device_pages: 3 pages; list_devices overlaps its pages by one device (to
    # notice a list that shifts while it is read): offsets 0, 2, 4, 6.
    assert client.requests_made == 7
    assert [r.query["offset"] for r in fake.requests[:3]] == ["0", "3", "6"]
    assert {r.query["limit"] for r in fake.requests} == {"3"}


async def test_list_devices_forwards_platform_and_filters(
    tenant: tuple[FakeKandji, KandjiClient],
) -> None:
    fake, client = tenant
    async with client:
        ipads = await client.list_devices("iPad", filters={"blueprint_id": "ab102b9d"})
    assert [d.platform for d in ipads] == ["iPad"] * 3
    assert all(r.query["platform"] == "iPad" for r in fake.requests)
    assert all(r.query["blueprint_id"] == "ab102b9d" for r in fake.requests)


async def test_per_device_reads_parse_into_models(
    tenant: tuple[FakeKandji, KandjiClient],
) -> None:
    fake, client = tenant
    async with client:
        device = await client.get_device("dev-2")
        details = await client.get_device_details("dev-2")
        status = await client.get_device_status("dev-2")
        items = await client.get_device_library_items("dev-2")
        params = await client.get_device_parameters("dev-2")
        apps = await client.get_device_apps("dev-2")
        activity = await client.get_device_activity("dev-2", limit=1000, offset=5)
    assert device.device_id == "dev-2"
    assert details.lost_mode.lost_mode_status == "ENABLED"
    assert len(status.library_items) == 8
    assert status.parameters[0].status == "PASS"
    assert any(i.status == "pending" for i in items.library_items)
    assert params.parameters[0].category == "User Accounts & Authentication"
    assert len(apps.apps) == 60
    assert activity.activity.count == 46
    activity_request = fake.requests[-1]
    assert (activity_request.query["limit"], activity_request.query["offset"]) == ("300", "5")
    assert client.requests_made == 7


async def test_lost_mode_details_and_the_400_that_means_not_in_lost_mode(
    tenant: tuple[FakeKandji, KandjiClient],
) -> None:
    fake, client = tenant
    async with client:
        lost = await client.get_lost_mode_details(LOST_DEVICE)
        with pytest.raises(ClientRequestError) as info:
            await client.get_lost_mode_details("dev-0")
        await client.cancel_lost_mode(LOST_DEVICE)
    assert lost.lost_mode_status == "ENABLED"
    assert lost.lost_mode.last_location is not None
    assert info.value.status == 400
    assert "not in lost mode" in str(info.value)
    assert fake.deletes == [LOST_DEVICE]


async def test_update_device_patches_and_returns_the_record(
    tenant: tuple[FakeKandji, KandjiClient],
) -> None:
    fake, client = tenant
    async with client:
        updated = await client.update_device("dev-1", {"tags": ["quarantine"], "asset_tag": None})
    assert fake.patches == [{"tags": ["quarantine"], "asset_tag": None}]
    assert updated.tags == ["quarantine"]
    assert updated.asset_tag == ""


async def test_unknown_device_is_not_found_with_the_endpoint_template(
    tenant: tuple[FakeKandji, KandjiClient],
) -> None:
    _, client = tenant
    async with client:
        with pytest.raises(NotFoundError) as info:
            await client.get_device("nope")
    assert info.value.endpoint == DEVICE
    assert info.value.source == "acme"


async def test_library_item_status_reads_300_rows_a_page(
    tenant: tuple[FakeKandji, KandjiClient], clock: RecordingClock
) -> None:
    fake, small_pages = tenant
    client = KandjiClient(kandji_config(small_pages.config.url), clock=clock)  # page_size 300
    async with client:
        pages = [len(p) async for p in client.iter_library_item_status("item-1")]
        one = await client.get_library_item_status("item-1", computer_id="dev-100")
    assert pages == [300, 300, 50]
    assert {r.query["limit"] for r in fake.requests} == {"300"}
    assert [r.query["offset"] for r in fake.requests[:3]] == ["0", "300", "600"]
    assert [(r.device_id, r.status) for r in one] == [("dev-100", "ERROR")]
    assert client.stats.count(LIBRARY_ITEM_STATUS, "200") == 4


async def test_blueprints_and_their_library_items(
    tenant: tuple[FakeKandji, KandjiClient],
) -> None:
    _, client = tenant
    async with client:
        blueprints = await client.list_blueprints()
        items = await client.list_blueprint_library_items(blueprints[0].id)
    assert [b.type for b in blueprints] == ["classic", "map"]
    assert blueprints[0].enrollment_code is not None
    assert len(items) == 6
    assert items[0].name == "ssh config"


async def test_a_body_of_the_wrong_shape_is_malformed(
    serve: Serve, clock: RecordingClock
) -> None:
    app = web.Application()

    async def listing(request: web.Request) -> web.Response:
        return web.json_response(["not", "an", "object"])

    app.router.add_get("/api/v1/devices/{device_id}/status", listing)
    async with KandjiClient(kandji_config(await serve(app)), clock=clock) as client:
        with pytest.raises(MalformedResponseError) as info:
            await client.get_device_status("d")
    assert info.value.endpoint == DEVICE_STATUS


async def test_token_override_and_a_shared_budget(
    tenant: tuple[FakeKandji, KandjiClient], clock: RecordingClock
) -> None:
    fake, first = tenant
    wrong = KandjiClient(
        kandji_config(first.config.url, token=SecretStr("other")),
        clock=clock,
        token=SecretStr(TOKEN),
        budget=first.budget,
    )
    async with first, wrong:
        await first.get_device("dev-0")
        await wrong.get_device("dev-0")  # the override, not the config's token, is sent
    assert first.budget is wrong.budget
    assert first.budget.spent_total == 2
    assert (first.requests_made, wrong.requests_made) == (1, 1)
    assert len(fake.requests) == 2
    assert "other" not in repr(wrong)
