"""AppliveryClient against a simulated organization on loopback (and, for the shapes the
simulator never sends, small Applivery-shaped apps): paging, envelope, errors, retries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from monitor.config import BudgetConfig, RetryConfig
from monitor.errors import (
    AuthError,
    ClientRequestError,
    MalformedResponseError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from monitor.simulator.applivery import (
    DEVICE,
    DEVICE_INFO,
    DEVICES,
    AppliverySimulator,
    start_applivery,
)
from monitor.sources.applivery.client import (
    AppliveryClient,
    valid_organization_id,
    valid_win_device_id,
)
from monitor.sources.applivery.config import AppliverySourceConfig
from tests.simulators import simulators
from tests.sources.conftest import RecordingClock, Serve

TOKEN = "applivery-test-token-5e1b"
ORG = "acme-workspace"

StartSim = Callable[..., Awaitable[tuple[str, AppliverySimulator]]]


def config(url: str, **overrides: Any) -> AppliverySourceConfig:
    values: dict[str, Any] = {
        "name": "windows",
        "kind": "applivery",
        "url": url,
        "token": SecretStr(TOKEN),
        "organization": ORG,
        "page_size": 10,
        "timeout": timedelta(seconds=5),
        "budget": BudgetConfig(requests_per_hour=10_000, burst_per_second=1000, concurrency=4),
        "retry": RetryConfig(
            max_attempts=4,
            backoff_base=timedelta(seconds=1),
            backoff_max=timedelta(seconds=30),
            max_retry_after=timedelta(minutes=5),
        ),
    }
    values.update(overrides)
    return AppliverySourceConfig(**values)


@pytest.fixture
async def start_sim(clock: RecordingClock) -> AsyncIterator[StartSim]:
    async with simulators(
        start_applivery,
        clock=clock,
        token=TOKEN,
        organization=ORG,
        devices=57,
        per_second=None,
        per_hour=None,
    ) as start:
        yield start


async def test_lists_every_device_across_pages(
    start_sim: StartSim, clock: RecordingClock
) -> None:
    url, sim = await start_sim()
    async with AppliveryClient(config(url), clock=clock) as client:
        devices = await client.list_devices()

    expected = [d.id for d in sim.fleet.listed()]
    assert [d.id for d in devices] == expected
    assert len(expected) > 40  # several pages, and some deleted devices left out
    reads = sim.requests.matching(DEVICES, "GET")
    pages = -(-len(expected) // 10)
    wanted = [{"page": str(p), "limit": "10"} for p in range(1, pages + 1)]
    assert [r.query for r in reads] == wanted
    assert all(r.status == 200 for r in reads)


async def test_show_deleted_asks_for_them_and_gets_them(
    start_sim: StartSim, clock: RecordingClock
) -> None:
    url, sim = await start_sim()
    async with AppliveryClient(config(url, page_size=100), clock=clock) as client:
        devices = await client.list_devices(show_deleted=True)
    assert len(devices) == sim.fleet.device_count
    assert any(d.state == "DELETED" for d in devices)
    assert sim.requests.records[0].query["show-deleted"] == "true"


async def test_a_server_that_caps_the_limit_is_still_read_to_the_end(
    start_sim: StartSim, clock: RecordingClock
) -> None:
    url, sim = await start_sim(max_limit=7)
    async with AppliveryClient(config(url, page_size=50), clock=clock) as client:
        devices = await client.list_devices()
    assert len(devices) == len(sim.fleet.listed())
    assert sim.requests.count(DEVICES) == -(-len(devices) // 7)


async def test_bearer_token_goes_in_the_header(
    start_sim: StartSim, clock: RecordingClock, serve: Serve
) -> None:
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        return web.json_response({"status": True, "data": {"items": [], "hasNextPage": False}})

    app = web.Application()
    app.router.add_get(DEVICES, handler)
    url = await serve(app)
    async with AppliveryClient(config(url + "/v1"), clock=clock) as client:
        assert await client.list_devices() == []
    assert seen == [f"Bearer {TOKEN}"]


async def test_wrong_token_is_an_auth_error_naming_the_code(
    start_sim: StartSim, clock: RecordingClock
) -> None:
    url, sim = await start_sim()
    async with AppliveryClient(config(url, token=SecretStr("nope-9")), clock=clock) as client:
        with pytest.raises(AuthError) as caught:
            await client.list_devices()
    assert caught.value.status == 401
    assert "error 4004: Invalid Token" in str(caught.value)
    assert "nope-9" not in str(caught.value)
    assert sim.requests.status_counts[401] == 1  # not retried


async def test_unknown_device_and_unknown_organization_are_not_found(
    start_sim: StartSim, clock: RecordingClock
) -> None:
    url, _ = await start_sim()
    async with AppliveryClient(config(url), clock=clock) as client:
        with pytest.raises(NotFoundError) as device_error:
            await client.get_device("0123456789abcdef01234567")
    assert "error 3001: Entity not found" in str(device_error.value)
    assert device_error.value.endpoint == DEVICE.removeprefix("/v1")
    async with AppliveryClient(config(url, organization="other-org"), clock=clock) as client:
        with pytest.raises(NotFoundError):
            await client.list_devices()


async def test_get_device_by_id_serial_or_imei(
    start_sim: StartSim, clock: RecordingClock
) -> None:
    url, sim = await start_sim()
    target = sim.fleet.listed()[3]
    async with AppliveryClient(config(url), clock=clock) as client:
        for key in (target.id, target.serial, target.imei):
            device = await client.get_device(key)
            assert device.id == target.id
            assert device.summary.serial_number == target.serial


async def test_429_is_retried_after_its_retry_after(
    start_sim: StartSim, clock: RecordingClock
) -> None:
    url, sim = await start_sim()
    fault = sim.add_fault(r"/devices$", "429", count=2, retry_after=7)
    async with AppliveryClient(config(url), clock=clock) as client:
        devices = await client.list_devices()
    assert len(devices) == len(sim.fleet.listed())
    assert fault.fired == 2
    assert clock.sleeps[:2] == [7.0, 7.0]
    assert sim.requests.status_counts[429] == 2


async def test_the_per_second_limit_the_headers_show_is_kept_to_not_met(
    start_sim: StartSim, clock: RecordingClock
) -> None:
    # The client may send 1,000 a second; the answers say 2: it sends one a second.
    url, sim = await start_sim(per_second=2)
    async with AppliveryClient(config(url), clock=clock) as client:
        devices = await client.list_devices()
    assert len(devices) == len(sim.fleet.listed())
    assert sim.requests.status_counts[429] == 0
    assert client.stats.retries == 0


async def test_an_hourly_limit_the_headers_show_spent_is_waited_out_not_met(
    start_sim: StartSim, clock: RecordingClock
) -> None:
    # The rate-limit headers say the hour is spent after two requests: the budget waits
    # for the window to reset instead of sending a request the server would refuse.
    url, sim = await start_sim(per_hour=2)
    async with AppliveryClient(config(url), clock=clock) as client:
        devices = await client.list_devices()
    assert len(devices) == len(sim.fleet.listed())
    assert sim.requests.status_counts[429] == 0
    assert any(s > 300 for s in clock.sleeps)


async def test_a_server_error_on_a_read_is_retried(
    start_sim: StartSim, clock: RecordingClock
) -> None:
    url, sim = await start_sim()
    sim.add_fault(r"/devices$", "503", count=1)
    async with AppliveryClient(config(url), clock=clock) as client:
        devices = await client.list_devices()
    assert len(devices) == len(sim.fleet.listed())
    assert sim.requests.status_counts[503] == 1


async def test_refresh_sends_the_categories_and_reads_the_inner_status(
    start_sim: StartSim, clock: RecordingClock
) -> None:
    url, sim = await start_sim()
    active = next(d for d in sim.fleet.listed() if d.state == "ACTIVE" and not d.silent)
    async with AppliveryClient(config(url), clock=clock) as client:
        answer = await client.request_info_refresh(active.id, ["hardware", "applications"])
    assert answer.status is True
    [post] = sim.requests.matching(DEVICE_INFO, "POST")
    assert post.body == {"info": ["hardware", "applications"]}


async def test_refresh_with_an_invalid_id_sends_nothing(
    start_sim: StartSim, clock: RecordingClock
) -> None:
    url, sim = await start_sim()
    async with AppliveryClient(config(url), clock=clock) as client:
        with pytest.raises(ValueError, match="winDeviceId"):
            await client.request_info_refresh("has-dashes", ["hardware"])
        with pytest.raises(ValueError, match="info"):
            await client.request_info_refresh("abc", [])
    assert sim.requests.total == 0


async def test_a_refresh_post_is_not_resent_after_a_server_error(
    start_sim: StartSim, clock: RecordingClock
) -> None:
    url, sim = await start_sim()
    sim.add_fault(r"/info$", "500", count=1)
    active = next(d for d in sim.fleet.listed() if d.state == "ACTIVE")
    async with AppliveryClient(config(url), clock=clock) as client:
        with pytest.raises(ServerError, match="500"):
            await client.request_info_refresh(active.id, ["hardware"])
    assert sim.requests.count(DEVICE_INFO, "POST") == 1


@pytest.mark.parametrize(
    ("value", "organization", "device"),
    [
        ("0123456789abcdef01234567", True, True),
        ("acme-workspace", True, False),
        ("SN12345", True, True),
        ("ab", False, True),
        ("a b", False, False),
        ("abc\n", False, False),
        ("ünï", False, False),
    ],
)
def test_path_parameter_patterns(value: str, organization: bool, device: bool) -> None:
    assert valid_organization_id(value) is organization
    assert valid_win_device_id(value) is device


# --- shapes the simulator never sends ----------------------------------------------------


def _app(pages: list[Any], *, status: int = 200) -> tuple[web.Application, list[dict[str, str]]]:
    queries: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        queries.append(dict(request.query))
        index = int(request.query.get("page", "1")) - 1
        body = pages[index] if index < len(pages) else []
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_get(DEVICES, handler)
    return app, queries


def _rows(*ids: str) -> list[dict[str, str]]:
    return [{"id": i} for i in ids]


async def test_bare_array_pages_stop_on_a_short_page(clock: RecordingClock, serve: Serve) -> None:
    full = _rows(*(f"d{i}" for i in range(10)))
    app, queries = _app([full, _rows("x", "y")])
    url = await serve(app)
    async with AppliveryClient(config(url + "/v1"), clock=clock) as client:
        devices = await client.list_devices()
    assert len(devices) == 12
    assert len(queries) == 2


async def test_data_array_pages_stop_on_an_empty_page(clock: RecordingClock, serve: Serve) -> None:
    full = {"status": True, "data": _rows(*(f"d{i}" for i in range(10)))}
    app, queries = _app([full, {"status": True, "data": []}])
    url = await serve(app)
    async with AppliveryClient(config(url + "/v1"), clock=clock) as client:
        assert len(await client.list_devices()) == 10
    assert len(queries) == 2


async def test_has_next_page_wins_over_a_short_page(clock: RecordingClock, serve: Serve) -> None:
    pages = [
        {"status": True, "data": {"items": _rows("a"), "hasNextPage": True}},
        {"status": True, "data": {"items": _rows("b"), "hasNextPage": True}},
        {"status": True, "data": {"items": _rows("c"), "hasNextPage": False}},
    ]
    app, queries = _app(pages)
    url = await serve(app)
    async with AppliveryClient(config(url + "/v1"), clock=clock) as client:
        assert [d.id for d in await client.list_devices()] == ["a", "b", "c"]
    assert [q["page"] for q in queries] == ["1", "2", "3"]


async def test_has_next_page_with_no_items_ends_the_scan(
    clock: RecordingClock, serve: Serve
) -> None:
    pages = [{"status": True, "data": {"items": [], "hasNextPage": True}}]
    app, queries = _app(pages)
    url = await serve(app)
    async with AppliveryClient(config(url + "/v1"), clock=clock) as client:
        assert await client.list_devices() == []
    assert len(queries) == 1


async def test_a_device_seen_twice_across_pages_is_kept_once(
    clock: RecordingClock, serve: Serve
) -> None:
    pages = [
        {"status": True, "data": {"items": _rows("a", "b"), "hasNextPage": True}},
        {"status": True, "data": {"items": _rows("b", "c"), "hasNextPage": False}},
    ]
    app, _ = _app(pages)
    url = await serve(app)
    async with AppliveryClient(config(url + "/v1"), clock=clock) as client:
        assert [d.id for d in await client.list_devices()] == ["a", "b", "c"]


async def test_an_error_envelope_in_a_200_is_an_error(clock: RecordingClock, serve: Serve) -> None:
    app, _ = _app([{"status": False, "error": {"code": 4004, "message": "Invalid Token"}}])
    url = await serve(app)
    async with AppliveryClient(config(url + "/v1"), clock=clock) as client:
        with pytest.raises(AuthError, match="4004"):
            await client.list_devices()


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, 4002, AuthError),
        (400, 3001, NotFoundError),
        (403, 4001, AuthError),
        (400, 1234, ClientRequestError),
        (429, 4004, RateLimitedError),
    ],
)
async def test_the_envelope_code_refines_the_status(
    clock: RecordingClock, serve: Serve, status: int, code: int, expected: type[Exception]
) -> None:
    body = {"status": False, "error": {"code": code, "message": "m"}}
    app, _ = _app([body] * 10, status=status)
    url = await serve(app)
    cfg = config(url + "/v1", retry=RetryConfig(max_attempts=1))
    async with AppliveryClient(cfg, clock=clock) as client:
        with pytest.raises(expected, match=f"error {code}: m"):
            await client.list_devices()


async def test_data_that_is_no_list_is_malformed(clock: RecordingClock, serve: Serve) -> None:
    app, _ = _app([{"status": True, "data": "soon"}])
    url = await serve(app)
    async with AppliveryClient(config(url + "/v1"), clock=clock) as client:
        with pytest.raises(MalformedResponseError, match="expected a list of devices"):
            await client.list_devices()


def test_repr_shows_no_token() -> None:
    client = AppliveryClient(config("https://api.applivery.io/v1"), clock=RecordingClock())
    assert TOKEN not in repr(client)
    assert TOKEN not in repr(client.api)
