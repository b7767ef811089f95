"""The Kandji client under faults: it never passes on a body it cannot vouch for, and a
device list that moves while it is read is read again rather than trusted."""

from __future__ import annotations

import pytest
import structlog
from aiohttp import web
from pydantic import SecretStr

from monitor.clock import FakeClock
from monitor.errors import MalformedResponseError, NotFoundError
from monitor.sources.kandji.api import DEVICE_STATUS
from monitor.sources.kandji.client import LIST_ATTEMPTS, DeviceListShiftedError, KandjiClient
from monitor.sources.kandji.config import KandjiSourceConfig
from tests.faults.conftest import TOKEN, StartSim


def make_client(
    url: str, clock: FakeClock, page_size: int = 300, attempts: int = 2
) -> KandjiClient:
    config = KandjiSourceConfig(
        name="acme",
        kind="kandji",
        url=url,
        token=SecretStr(TOKEN),
        page_size=page_size,
        retry={"max_attempts": attempts, "backoff_base": "10ms", "backoff_max": "20ms"},
        budget={"requests_per_hour": 100_000, "burst_per_second": 1000, "concurrency": 8},
    )
    return KandjiClient(config, clock=clock)


async def test_a_list_that_shifts_once_is_read_again_and_skips_nobody(
    start_sim: StartSim, clock: FakeClock
) -> None:
    url, sim = await start_sim(devices=40)
    # The first two page requests pass; the third finds the list shifted by one.
    sim.add_fault("^/api/v1/devices$", "shift", count=1, after=2)
    async with make_client(url, clock, page_size=10) as client:
        with structlog.testing.capture_logs() as logs:
            devices = await client.list_devices()
    live = [sim.fleet.device_id(i) for i in sim.fleet.device_indices()]
    assert [d.device_id for d in devices] == live  # every live device, once, in order
    assert [e["event"] for e in logs].count("kandji.device_list_shifted") == 1
    offsets = [r.query["offset"] for r in sim.requests.records]
    # Pages overlap by one device; the shifted pass is abandoned and read again.
    assert offsets == ["0", "9", "18", "0", "9", "18", "27", "36"]


async def test_a_list_that_keeps_shifting_is_refused(start_sim: StartSim, clock: FakeClock) -> None:
    url, sim = await start_sim(devices=40)
    sim.add_fault("^/api/v1/devices$", "shift")
    async with make_client(url, clock, page_size=10) as client:
        with pytest.raises(DeviceListShiftedError) as info:
            await client.list_devices()
    assert f"{LIST_ATTEMPTS} times" in str(info.value)
    assert info.value.retryable


@pytest.mark.parametrize(
    ("kind", "key", "expected"),
    [
        ("field-missing", "status", "library_items.0.status: missing"),
        ("field-missing", "item_id", "library_items.0.item_id: missing"),
        ("field-missing", "library_items", "library_items: missing"),
        ("null-object", "library_items", "library_items: NoneType, not a list"),
        ("null-object", None, "not an object"),
    ],
)
async def test_status_bodies_missing_what_rules_read_are_refused(
    start_sim: StartSim, clock: FakeClock, kind: str, key: str | None, expected: str
) -> None:
    url, sim = await start_sim(devices=5)
    async with make_client(url, clock) as client:
        device = (await client.list_devices())[0].device_id
        sim.add_fault("/status$", kind, key=key)
        with pytest.raises(MalformedResponseError) as info:
            await client.get_device_status(device)
    assert expected in str(info.value)
    assert info.value.endpoint == DEVICE_STATUS


@pytest.mark.parametrize("key", ["device_id", "mdm_enabled", "platform"])
async def test_a_device_record_missing_a_documented_key_refuses_the_list(
    start_sim: StartSim, clock: FakeClock, key: str
) -> None:
    url, sim = await start_sim(devices=5)
    sim.add_fault("^/api/v1/devices$", "field-missing", key=key)
    async with make_client(url, clock) as client:
        with pytest.raises(MalformedResponseError, match=f"devices.0.{key}: missing"):
            await client.list_devices()


async def test_a_null_in_the_device_list_never_drops_a_device(
    start_sim: StartSim, clock: FakeClock
) -> None:
    url, sim = await start_sim(devices=5)
    # Each answer has one object nulled: a device record (refused) or a record's user
    # (a documented shape); either way no device goes missing from the list.
    sim.add_fault("^/api/v1/devices$", "null-object")
    live = [sim.fleet.device_id(i) for i in sim.fleet.device_indices()]
    async with make_client(url, clock) as client:
        try:
            listed = [d.device_id for d in await client.list_devices()]
        except MalformedResponseError as exc:
            listed = [str(exc)]
    assert listed == live or "not an object" in listed[0]


async def test_an_unusable_list_page_is_asked_again(start_sim: StartSim, clock: FakeClock) -> None:
    url, sim = await start_sim(devices=5)
    sim.add_fault("^/api/v1/devices$", "field-missing", key="device_id", count=2)
    async with make_client(url, clock, attempts=3) as client:
        with structlog.testing.capture_logs() as logs:
            devices = await client.list_devices()
    assert len(devices) == 5
    asked = [e for e in logs if e["event"] == "api.retry"]
    assert [e["error"] for e in asked] == ["MalformedResponseError"] * 2
    assert sim.requests.total == 3


async def test_a_null_details_section_is_refused(start_sim: StartSim, clock: FakeClock) -> None:
    url, sim = await start_sim(devices=5)
    sim.add_fault("/details$", "null-object", key="filevault")
    async with make_client(url, clock) as client:
        device = (await client.list_devices())[0].device_id
        with pytest.raises(MalformedResponseError, match="filevault: null"):
            await client.get_device_details(device)


async def test_a_404_for_a_device_that_still_exists_is_not_a_removal(
    start_sim: StartSim, clock: FakeClock
) -> None:
    url, sim = await start_sim(devices=5)
    async with make_client(url, clock) as client:
        devices = await client.list_devices()
        sim.add_fault("/status$", "html")
        with structlog.testing.capture_logs() as logs:
            with pytest.raises(MalformedResponseError, match="which the tenant still has"):
                await client.get_device_status(devices[0].device_id)
            # A device really gone: the 404 is believed.
            sim.fleet.remove_device(devices[1].device_id)
            with pytest.raises(NotFoundError):
                await client.get_device_status(devices[1].device_id)
    assert [e["event"] for e in logs].count("kandji.inconsistent_404") == 1


async def test_undocumented_statuses_are_kept_and_logged_once_per_value(
    start_sim: StartSim, clock: FakeClock
) -> None:
    url, sim = await start_sim(devices=8)
    sim.add_fault("/status$", "new-enum", key="status", value="QUARANTINED")
    async with make_client(url, clock) as client:
        devices = await client.list_devices()
        with structlog.testing.capture_logs() as logs:
            bodies = [await client.get_device_status(d.device_id) for d in devices]
    statuses = {row.status for b in bodies for row in b.library_items}
    assert statuses == {"QUARANTINED"}
    assert not any(row.status_known for b in bodies for row in b.library_items)
    undocumented = [e for e in logs if e["event"] == "kandji.undocumented_status"]
    assert len(undocumented) == 1
    assert undocumented[0]["status"] == "QUARANTINED"


async def test_json_nested_beyond_the_parser_is_malformed_not_a_crash(
    clock: FakeClock,
) -> None:
    async def deep(request: web.Request) -> web.Response:
        return web.Response(body=b"[" * 200_000, content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/v1/devices", deep)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with make_client(f"http://127.0.0.1:{port}", clock) as client:
            with pytest.raises(MalformedResponseError, match="not JSON"):
                await client.list_devices()
    finally:
        await runner.cleanup()
