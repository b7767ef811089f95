"""The simulator's fault kinds do what they say, over real HTTP on loopback."""

from __future__ import annotations

import json
import random
from typing import Any

import aiohttp
import pytest

from monitor.commands.simulate import parse_fault
from monitor.simulator.faults import UNDOCUMENTED_STATUS, FaultKind, mutate_json
from tests.faults.conftest import StartSim

STATUS = "/api/v1/devices/{device_id}/status"


async def first_device(base: str, http: aiohttp.ClientSession) -> str:
    async with http.get(f"{base}/api/v1/devices", params={"limit": "1"}) as resp:
        return str((await resp.json())[0]["device_id"])


async def status_of(base: str, http: aiohttp.ClientSession, device_id: str) -> Any:
    async with http.get(f"{base}/api/v1/devices/{device_id}/status") as resp:
        assert resp.status == 200
        return await resp.json()


def count_keys(node: Any) -> int:
    if isinstance(node, dict):
        return len(node) + sum(count_keys(v) for v in node.values())
    if isinstance(node, list):
        return sum(count_keys(v) for v in node)
    return 0


def count_objects(node: Any) -> int:
    if isinstance(node, dict):
        return 1 + sum(count_objects(v) for v in node.values())
    if isinstance(node, list):
        return sum(count_objects(v) for v in node)
    return 0


async def test_bare_429_has_no_retry_after_nor_rate_limit_headers(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    # Rate limits on, so ordinary answers do carry the gateway's headers.
    base, sim = await start_sim(per_second=1000, per_hour=100_000)
    sim.add_fault("^/api/v1/devices$", "429-bare", count=1)
    sim.add_fault("^/api/v1/devices$", "429", count=1, retry_after=7)
    async with http.get(f"{base}/api/v1/devices") as bare:
        assert bare.status == 429
        assert "Retry-After" not in bare.headers
        assert not [h for h in bare.headers if h.lower().startswith(("ratelimit", "x-ratelimit"))]
    async with http.get(f"{base}/api/v1/devices") as classic:
        assert classic.status == 429
        assert classic.headers["Retry-After"] == "7"
    async with http.get(f"{base}/api/v1/devices") as ok:
        assert ok.status == 200
        assert "Ratelimit-Remaining" in ok.headers


async def test_reset_mid_body_sends_the_status_then_cuts_the_body(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim()
    device = await first_device(base, http)
    whole = await status_of(base, http, device)
    sim.add_fault("/status$", "reset-body", count=1)
    async with http.get(f"{base}/api/v1/devices/{device}/status") as resp:
        assert resp.status == 200
        # The announced length is the whole body's; what arrives is shorter.
        assert resp.content_length is not None
        assert resp.content_length > len(json.dumps(whole)) // 3
        with pytest.raises((aiohttp.ClientPayloadError, aiohttp.ClientConnectionError)):
            await resp.read()
    assert sim.requests.records[-1].fault == "reset-body"


@pytest.mark.parametrize(
    ("kind", "content_type"), [("garbled", "application/json"), ("html-200", "text/html")]
)
async def test_ok_answers_whose_body_is_not_json(
    start_sim: StartSim, http: aiohttp.ClientSession, kind: str, content_type: str
) -> None:
    base, sim = await start_sim()
    device = await first_device(base, http)
    sim.add_fault("/status$", kind, count=1)
    async with http.get(f"{base}/api/v1/devices/{device}/status") as resp:
        assert resp.status == 200
        assert resp.content_type == content_type
        raw = await resp.read()
    with pytest.raises((json.JSONDecodeError, UnicodeDecodeError)):
        json.loads(raw)


async def test_field_missing_removes_the_named_key_everywhere(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim()
    device = await first_device(base, http)
    sim.add_fault("/status$", "field-missing=status", count=1)
    body = await status_of(base, http, device)
    rows = body["library_items"] + body["parameters"]
    assert rows
    assert all("status" not in row and "item_id" in row for row in rows)
    again = await status_of(base, http, device)  # count=1: the next answer is whole
    assert all("status" in row for row in again["library_items"])


async def test_unkeyed_mutations_alter_exactly_one_place(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim()
    device = await first_device(base, http)
    whole = await status_of(base, http, device)
    sim.add_fault("/status$", FaultKind.FIELD_MISSING, count=1)
    assert count_keys(await status_of(base, http, device)) == count_keys(whole) - 1
    sim.add_fault("/status$", FaultKind.NULL_OBJECT, count=1)
    nulled = await status_of(base, http, device)
    assert count_objects(nulled) < count_objects(whole)
    assert count_keys(nulled) <= count_keys(whole)
    sim.add_fault("/status$", FaultKind.NEW_ENUM, count=1)
    renamed = await status_of(base, http, device)
    statuses = [r["status"] for r in renamed["library_items"] + renamed["parameters"]]
    assert statuses.count(UNDOCUMENTED_STATUS) == 1


async def test_null_object_and_new_enum_with_a_key(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim()
    device = await first_device(base, http)
    sim.add_fault("/status$", "null-object", key="library_items", count=1)
    assert (await status_of(base, http, device))["library_items"] is None
    sim.add_fault("/status$", "new-enum", key="status", value="RETIRED", count=1)
    body = await status_of(base, http, device)
    assert {r["status"] for r in body["library_items"]} == {"RETIRED"}


async def test_shift_moves_later_pages_one_device_on(
    start_sim: StartSim, http: aiohttp.ClientSession
) -> None:
    base, sim = await start_sim(devices=30)
    before = [sim.fleet.device_id(i) for i in sim.fleet.device_indices()]
    async with http.get(f"{base}/api/v1/devices", params={"limit": "10"}) as resp:
        first = [d["device_id"] for d in await resp.json()]
    assert first == before[:10]
    sim.add_fault("^/api/v1/devices$", "shift", count=1)
    async with http.get(f"{base}/api/v1/devices", params={"limit": "10", "offset": "10"}) as r:
        second = [d["device_id"] for d in await r.json()]
    # One device listed on the first page was removed, one was enrolled at the end:
    # the second page now starts with what was the 12th device, so the 11th is skipped.
    assert second == before[11:21]
    assert sim.fleet.device_count == 30
    removed = set(before) - {sim.fleet.device_id(i) for i in sim.fleet.device_indices()}
    assert len(removed) == 1
    assert removed <= set(first)


def test_simulate_fault_option_carries_a_mutation_key() -> None:
    kind, probability, path = parse_fault("new-enum=status:0.25:/status$")
    assert (kind, probability, path) == ("new-enum=status", 0.25, "/status$")


async def test_a_kind_string_may_name_the_key(start_sim: StartSim) -> None:
    _, sim = await start_sim(devices=5)
    fault = sim.add_fault("/status$", "field-missing=item_id")
    assert (fault.kind, fault.key) == (FaultKind.FIELD_MISSING, "item_id")
    with pytest.raises(ValueError, match="not-a-kind"):
        sim.add_fault("/status$", "not-a-kind")


BODY: dict[str, Any] = {
    "device_id": "d1",
    "library_items": [
        {"item_id": "a", "status": "ERROR", "blueprint": {"id": "b", "name": "B"}},
        {"item_id": "b", "status": "PASS", "blueprint": {"id": "b", "name": "B"}},
    ],
    "parameters": [{"item_id": "p", "status": "PASS"}],
}


@pytest.mark.parametrize(
    ("kind", "key", "check"),
    [
        (FaultKind.FIELD_MISSING, "status",
         lambda b: all("status" not in r for r in b["library_items"] + b["parameters"])),
        (FaultKind.FIELD_MISSING, "device_id", lambda b: "device_id" not in b),
        (FaultKind.NULL_OBJECT, "blueprint",
         lambda b: [r["blueprint"] for r in b["library_items"]] == [None, None]),
        (FaultKind.NULL_OBJECT, "parameters", lambda b: b["parameters"] is None),
        (FaultKind.NULL_OBJECT, "status", lambda b: b == BODY),  # a string is no object
        (FaultKind.NEW_ENUM, "status",
         lambda b: {r["status"] for r in b["library_items"]} == {UNDOCUMENTED_STATUS}),
        (FaultKind.NEW_ENUM, "absent", lambda b: b == BODY),
    ],
)
def test_mutate_json_table(kind: FaultKind, key: str, check: Any) -> None:
    out = mutate_json(BODY, kind, key, UNDOCUMENTED_STATUS, random.Random(1))
    assert check(out)
    assert BODY["library_items"][0]["status"] == "ERROR"  # the input is left alone


def test_mutate_json_refuses_other_kinds() -> None:
    with pytest.raises(ValueError, match="not a body mutation"):
        mutate_json({}, FaultKind.RESET, None, "", random.Random(0))
