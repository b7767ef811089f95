"""Kandji actions: tag merges that lose nothing, inventory updates, stuck Lost Mode."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from monitor.actions import ActionStatus, list_actions
from monitor.clock import FakeClock
from monitor.simulator.kandji import Fleet, FleetSpec, KandjiSimulator, make_kandji_app
from monitor.sources.kandji.actions import lost_mode_in_error, merge_tags
from monitor.sources.kandji.client import KandjiClient
from monitor.store import SqlStore
from tests.actions.conftest import (
    KANDJI_TOKEN,
    KandjiEnv,
    actions_config,
    by_id,
    firing,
    kandji_config,
    make_runner,
    rules,
)

TAG_RULE = """
rules:
  - id: mac.tag
    description: tag it
    source: kandji
    subject: device
    match: {platform: Mac}
    actions:
      - type: kandji.tag
        params: {add: needs-attention}
"""

UNTAG_RULE = """
rules:
  - id: mac.untag
    description: untag it
    source: kandji
    subject: device
    match: {platform: Mac}
    actions:
      - type: kandji.tag
        params: {remove: [quarantine]}
"""

INVENTORY_RULE = """
rules:
  - id: any.inventory
    description: inventory
    source: kandji
    subject: device
    match: {platform: [Mac, iPhone, iPad, Windows]}
    actions:
      - {type: kandji.update_inventory}
"""

LOST_MODE_RULE = """
rules:
  - id: phone.lost
    description: stuck lost mode
    source: kandji
    subject: device
    match: {lost_mode_status: {exists: true}}
    actions:
      - {type: kandji.cancel_lost_mode}
"""


@pytest.mark.parametrize(
    ("current", "add", "remove", "expected"),
    [
        (["a", "b"], ["c"], [], ["a", "b", "c"]),
        (["a", "b"], ["a"], [], ["a", "b"]),
        (["a", "b", "c"], [], ["b"], ["a", "c"]),
        ([], ["x", "x"], [], ["x"]),
        (["a"], ["b"], ["zzz"], ["a", "b"]),
    ],
)
def test_merge_keeps_every_other_tag_in_order(
    current: list[str], add: list[str], remove: list[str], expected: list[str]
) -> None:
    assert merge_tags(current, add, remove) == expected


@pytest.mark.parametrize(
    ("status", "disable", "wanted", "expected"),
    [
        ("ENABLED", "", [], False),
        ("ERROR", "", [], True),
        ("ENABLED", "DISABLE_FAILED", [], True),
        ("", "", [], False),
        ("STUCK", "", ["stuck"], True),
        ("ERROR", "", ["STUCK"], False),
    ],
)
def test_lost_mode_error_states(
    status: str, disable: str, wanted: list[str], expected: bool
) -> None:
    assert lost_mode_in_error(status, disable, wanted) is expected


async def test_tag_added_by_someone_else_between_sweeps_survives(
    kandji: KandjiEnv, store: SqlStore, clock: FakeClock
) -> None:
    mac = kandji.devices("Mac")[0]
    fleet = kandji.sim.fleet
    fleet.update_device(mac.device_id, tags=["finance"])
    swept = kandji.device(mac.device_id)  # what the sweep saw: ["finance"]
    # Someone else tags the device after the sweep.
    fleet.update_device(mac.device_id, tags=["finance", "loaner"])
    runner = make_runner(actions_config(), store, clock, kandji=kandji)

    [result] = await runner.run(
        [firing("mac.tag", swept, at=clock.now())], rules(TAG_RULE), by_id([swept])
    )

    assert result.status is ActionStatus.DONE
    path = f"/api/v1/devices/{mac.device_id}"
    assert kandji.writes() == [("PATCH", path, {"tags": ["finance", "loaner", "needs-attention"]})]
    # The read came first, from the API, not from the sweep's copy.
    reads = [r for r in kandji.sim.requests if r.method == "GET"]
    assert [r.path for r in reads] == [path]
    assert reads[0].seq < next(r.seq for r in kandji.sim.requests if r.method == "PATCH")
    assert kandji.device(mac.device_id).tags == ("finance", "loaner", "needs-attention")


async def test_removing_a_tag_keeps_the_others(
    kandji: KandjiEnv, store: SqlStore, clock: FakeClock
) -> None:
    mac = kandji.devices("Mac")[1]
    kandji.sim.fleet.update_device(mac.device_id, tags=["quarantine", "vip", "lab"])
    runner = make_runner(actions_config(), store, clock, kandji=kandji)

    [result] = await runner.run(
        [firing("mac.untag", mac, at=clock.now())], rules(UNTAG_RULE), by_id([mac])
    )

    assert result.status is ActionStatus.DONE
    path = f"/api/v1/devices/{mac.device_id}"
    assert kandji.writes() == [("PATCH", path, {"tags": ["vip", "lab"]})]


async def test_a_tag_already_there_is_not_written_again(
    kandji: KandjiEnv, store: SqlStore, clock: FakeClock
) -> None:
    mac = kandji.devices("Mac")[2]
    kandji.sim.fleet.update_device(mac.device_id, tags=["needs-attention", "x"])
    runner = make_runner(actions_config(), store, clock, kandji=kandji)

    [result] = await runner.run(
        [firing("mac.tag", mac, at=clock.now())], rules(TAG_RULE), by_id([mac])
    )

    assert result.status is ActionStatus.NOT_NEEDED
    assert kandji.writes() == []
    [entry] = await list_actions(store)
    assert entry.result == "not_needed"
    assert runner.failure_findings() == []


async def test_tagging_a_device_gone_from_the_tenant_fails_loudly(
    kandji: KandjiEnv, store: SqlStore, clock: FakeClock
) -> None:
    mac = kandji.devices("Mac")[3]
    kandji.sim.fleet.remove_device(mac.device_id)
    runner = make_runner(actions_config(), store, clock, kandji=kandji)

    [result] = await runner.run(
        [firing("mac.tag", mac, at=clock.now())], rules(TAG_RULE), by_id([mac])
    )

    assert result.status is ActionStatus.FAILED
    assert "not found (404)" in result.message
    assert kandji.writes() == []
    assert (await list_actions(store))[0].result == "failed"
    [finding] = runner.failure_findings("apple")
    assert finding.subject_name == "kandji.tag"


async def test_a_rejected_token_fails_loudly_without_leaking_it(
    kandji: KandjiEnv, store: SqlStore, clock: FakeClock
) -> None:
    mac = kandji.devices("Mac")[0]
    wrong = KandjiClient(kandji_config(kandji.url, token="stale-kandji-token"), clock=clock)
    runner = make_runner(actions_config(), store, clock)
    runner.clients = {"apple": wrong}
    try:
        [result] = await runner.run(
            [firing("mac.tag", mac, at=clock.now())], rules(TAG_RULE), by_id([mac])
        )
    finally:
        await wrong.close()
    assert result.status is ActionStatus.FAILED
    assert "401" in result.message
    assert "stale-kandji-token" not in result.message
    assert kandji.writes() == []
    assert len(runner.failure_findings()) == 1


async def test_inventory_update_sends_the_documented_post_without_body(
    kandji: KandjiEnv, store: SqlStore, clock: FakeClock
) -> None:
    phone = kandji.devices("iPhone")[0]
    runner = make_runner(actions_config(), store, clock, kandji=kandji)

    [result] = await runner.run(
        [firing("any.inventory", phone, at=clock.now())], rules(INVENTORY_RULE), by_id([phone])
    )

    assert result.status is ActionStatus.DONE
    path = f"/api/v1/devices/{phone.device_id}/action/updateinventory"
    assert kandji.writes() == [("POST", path, None)]
    [post] = kandji.sim.requests.matching("/api/v1/devices/{device_id}/action/{action}", "POST")
    assert post.status == 200


async def test_inventory_update_is_refused_for_a_non_apple_device(
    kandji: KandjiEnv, store: SqlStore, clock: FakeClock
) -> None:
    mac = kandji.devices("Mac")[0]
    windows = dataclasses.replace(mac, platform="Windows")
    runner = make_runner(actions_config(), store, clock, kandji=kandji)

    [result] = await runner.run(
        [firing("any.inventory", windows, at=clock.now())],
        rules(INVENTORY_RULE),
        by_id([windows]),
    )

    assert result.status is ActionStatus.REFUSED
    assert "not Windows" in result.message
    assert kandji.sim.requests.total == 0


async def test_lost_mode_that_is_not_in_error_is_left_alone(
    kandji: KandjiEnv, store: SqlStore, clock: FakeClock
) -> None:
    phone = kandji.devices("iPhone")[0]
    kandji.sim.fleet.set_lost_mode(phone.device_id, True)  # ENABLED: working as meant
    runner = make_runner(actions_config(), store, clock, kandji=kandji)

    [result] = await runner.run(
        [firing("phone.lost", phone, at=clock.now())], rules(LOST_MODE_RULE), by_id([phone])
    )

    assert result.status is ActionStatus.NOT_NEEDED
    assert kandji.writes() == []
    assert [r.path for r in kandji.sim.requests] == [
        f"/api/v1/devices/{phone.device_id}/details/lostmode"
    ]


async def test_a_device_not_in_lost_mode_needs_nothing(
    kandji: KandjiEnv, store: SqlStore, clock: FakeClock
) -> None:
    phone = kandji.devices("iPhone")[1]
    kandji.sim.fleet.set_lost_mode(phone.device_id, False)
    runner = make_runner(actions_config(), store, clock, kandji=kandji)
    [result] = await runner.run(
        [firing("phone.lost", phone, at=clock.now())], rules(LOST_MODE_RULE), by_id([phone])
    )
    assert result.status is ActionStatus.NOT_NEEDED
    assert "not in Lost Mode" in result.message
    assert kandji.writes() == []


async def test_cancel_lost_mode_is_refused_on_a_mac(
    kandji: KandjiEnv, store: SqlStore, clock: FakeClock
) -> None:
    mac = kandji.devices("Mac")[0]
    runner = make_runner(actions_config(), store, clock, kandji=kandji)
    [result] = await runner.run(
        [firing("phone.lost", mac, at=clock.now())], rules(LOST_MODE_RULE), by_id([mac])
    )
    assert result.status is ActionStatus.REFUSED
    assert kandji.sim.requests.total == 0


# --- Lost Mode stuck in an error state ---------------------------------------------------
#
# The simulated tenant always reports a working Lost Mode (ENABLED); this shim, the
# innermost middleware of a real simulated tenant, plays a device whose Lost Mode is
# stuck, by rewriting its lost mode details.

STUCK: set[str] = set()


@web.middleware
async def _stuck_lost_mode(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    device_id = request.match_info.get("device_id", "")
    if (
        request.method == "GET"
        and request.path.endswith("/details/lostmode")
        and device_id in STUCK
        and isinstance(response, web.Response)
        and response.status == 200
        and response.body is not None
    ):
        body = json.loads(bytes(response.body))  # type: ignore[arg-type]
        body["lost_mode"]["lost_mode_status"] = "ERROR"
        body["lost_mode"]["disable_status"] = "FAILED"
        return web.json_response(body)
    return response


@pytest.fixture
async def stuck_kandji(clock: FakeClock) -> AsyncIterator[KandjiEnv]:
    fleet = Fleet(FleetSpec(devices=60, seed=7), clock=clock)
    sim = KandjiSimulator(fleet, token=KANDJI_TOKEN, per_second=None, per_hour=None)
    app = make_kandji_app(sim)
    app.middlewares.append(_stuck_lost_mode)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    url = f"http://{host}:{port}"
    client = KandjiClient(kandji_config(url), clock=clock)
    yield KandjiEnv(url, sim, client)
    STUCK.clear()
    await client.close()
    await runner.cleanup()


async def test_lost_mode_stuck_in_error_is_cancelled(
    stuck_kandji: KandjiEnv, store: SqlStore, clock: FakeClock
) -> None:
    env = stuck_kandji
    phone = env.devices("iPad")[0] if env.devices("iPad") else env.devices("iPhone")[0]
    env.sim.fleet.set_lost_mode(phone.device_id, True)
    STUCK.add(phone.device_id)
    runner = make_runner(actions_config(), store, clock, kandji=env)

    [result] = await runner.run(
        [firing("phone.lost", phone, at=clock.now())], rules(LOST_MODE_RULE), by_id([phone])
    )

    assert result.status is ActionStatus.DONE
    path = f"/api/v1/devices/{phone.device_id}/details/lostmode"
    assert [(r.method, r.path) for r in env.sim.requests] == [("GET", path), ("DELETE", path)]
    assert env.writes() == [("DELETE", path, None)]
    assert env.sim.requests.records[-1].status == 204
    [entry] = await list_actions(store)
    assert entry.result == "done"
    assert "ERROR" in entry.message


@pytest.mark.parametrize(
    ("enabled", "text"),
    [
        (False, TAG_RULE),
        (False, INVENTORY_RULE),
        (True, TAG_RULE.split("    actions:")[0]),
        (True, INVENTORY_RULE.split("    actions:")[0]),
    ],
    ids=["tag-globally-off", "inventory-globally-off", "tag-rule-off", "inventory-rule-off"],
)
async def test_no_kandji_request_without_both_switches_on(
    kandji: KandjiEnv, store: SqlStore, clock: FakeClock, enabled: bool, text: str
) -> None:
    mac = kandji.devices("Mac")[0]
    runner = make_runner(actions_config(enabled=enabled), store, clock, kandji=kandji)
    rule_id = next(iter(rules(text)))
    results = await runner.run(
        [firing(rule_id, mac, at=clock.now())], rules(text), by_id([mac])
    )
    assert results == []
    assert kandji.sim.requests.total == 0
    assert await list_actions(store) == []
