"""applivery.refresh_info: exactly the documented request, and every way it can go wrong."""

from __future__ import annotations

import dataclasses

from monitor.actions import ACTION_FAILED_RULE, ActionStatus, list_actions
from monitor.clock import FakeClock
from monitor.models import SubjectKind
from monitor.simulator.applivery import DEVICE_INFO
from monitor.sources.applivery.client import AppliveryClient
from monitor.store import SqlStore
from tests.actions.conftest import (
    AppliveryEnv,
    actions_config,
    applivery_config,
    by_id,
    firing,
    make_runner,
    rules,
)

REFRESH_RULE = """
rules:
  - id: win.refresh
    description: refresh needed
    source: applivery
    subject: device
    match: {refresh_info_needed: {matches: ".+"}}
    actions:
      - type: applivery.refresh_info
        params: {info: [hardware, certificates]}
"""

NO_ACTION_RULE = """
rules:
  - id: win.refresh
    description: refresh needed
    source: applivery
    subject: device
    match: {refresh_info_needed: {matches: ".+"}}
"""


async def test_refresh_sends_exactly_the_documented_request(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    device = applivery.active()[0]
    runner = make_runner(actions_config(), store, clock, applivery=applivery)

    results = await runner.run(
        [firing("win.refresh", device, at=clock.now())], rules(REFRESH_RULE), by_id([device])
    )

    assert [r.status for r in results] == [ActionStatus.DONE]
    posts = applivery.sim.requests.matching(DEVICE_INFO, "POST")
    assert len(posts) == 1
    assert posts[0].path == (
        f"/v1/organizations/acme-workspace/mdm/windows/enterprise/devices/{device.device_id}/info"
    )
    assert posts[0].body == {"info": ["hardware", "certificates"]}
    assert posts[0].status == 200
    assert applivery.writes() == [("POST", posts[0].path, posts[0].body)]
    # The device reports the asked categories once the refresh completes.
    applivery.sim.fleet.set_refresh_needed(device.device_id, ["hardware"])
    clock.advance(applivery.sim.fleet.refresh_delay + 1)
    applivery.sim.fleet.apply_due()
    assert applivery.sim.fleet.require(device.device_id).refresh_needed == []


async def test_refresh_is_audited_with_who_what_when_and_result(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    device = applivery.active()[1]
    runner = make_runner(actions_config(), store, clock, applivery=applivery)
    await runner.run(
        [firing("win.refresh", device, at=clock.now())], rules(REFRESH_RULE), by_id([device])
    )

    [entry] = await list_actions(store)
    assert entry.action == "applivery.refresh_info"
    assert entry.source == "windows"
    assert entry.device_id == device.device_id
    assert entry.device_name == device.name
    assert entry.who == "rule:win.refresh"
    assert entry.at == clock.now()
    assert entry.result == "done"
    assert entry.params == {"info": ["hardware", "certificates"]}
    assert entry.trigger == "first"


async def test_dry_run_sends_nothing_and_says_what_it_would_send(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    device = applivery.active()[0]
    runner = make_runner(actions_config(), store, clock, applivery=applivery)

    [result] = await runner.run(
        [firing("win.refresh", device, at=clock.now())],
        rules(REFRESH_RULE),
        by_id([device]),
        dry_run=True,
    )

    assert result.status is ActionStatus.DRY_RUN
    assert f"devices/{device.device_id}/info" in result.message
    assert '{"info": ["hardware", "certificates"]}' in result.message
    assert applivery.writes() == []
    [entry] = await list_actions(store)
    assert entry.result == "dry_run"
    assert entry.dry_run


async def test_dry_run_from_the_config_sends_nothing(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    device = applivery.active()[0]
    runner = make_runner(actions_config(dry_run=True), store, clock, applivery=applivery)
    [result] = await runner.run(
        [firing("win.refresh", device, at=clock.now())], rules(REFRESH_RULE), by_id([device])
    )
    assert result.status is ActionStatus.DRY_RUN
    assert applivery.writes() == []


async def test_nothing_is_sent_or_recorded_when_actions_are_off_globally(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    device = applivery.active()[0]
    runner = make_runner(actions_config(enabled=False), store, clock, applivery=applivery)

    results = await runner.run(
        [firing("win.refresh", device, at=clock.now())], rules(REFRESH_RULE), by_id([device])
    )

    assert results == []
    assert applivery.writes() == []
    assert applivery.sim.requests.total == 0
    assert await list_actions(store) == []


async def test_nothing_is_sent_for_a_rule_that_declares_no_action(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    device = applivery.active()[0]
    runner = make_runner(actions_config(), store, clock, applivery=applivery)

    results = await runner.run(
        [firing("win.refresh", device, at=clock.now())], rules(NO_ACTION_RULE), by_id([device])
    )

    assert results == []
    assert applivery.sim.requests.total == 0
    assert await list_actions(store) == []


async def test_a_disabled_rule_triggers_nothing(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    device = applivery.active()[0]
    text = REFRESH_RULE.replace("    actions:", "    enabled: false\n    actions:")
    runner = make_runner(actions_config(), store, clock, applivery=applivery)
    results = await runner.run(
        [firing("win.refresh", device, at=clock.now())], rules(text), by_id([device])
    )
    assert results == []
    assert applivery.sim.requests.total == 0


async def test_unknown_device_404_is_recorded_and_raises_a_failure_finding(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    device = applivery.active()[0]
    applivery.sim.fleet.purge(device.device_id)  # gone between the sweep and the action
    runner = make_runner(actions_config(), store, clock, applivery=applivery)

    [result] = await runner.run(
        [firing("win.refresh", device, at=clock.now())], rules(REFRESH_RULE), by_id([device])
    )

    assert result.status is ActionStatus.FAILED
    assert "not found (404)" in result.message
    assert "3001" in result.message
    [post] = applivery.sim.requests.matching(DEVICE_INFO, "POST")
    assert post.status == 404
    [entry] = await list_actions(store)
    assert entry.result == "failed"
    assert "3001" in entry.message
    [finding] = runner.failure_findings("windows")
    assert finding.rule_id == ACTION_FAILED_RULE
    assert finding.subject_kind is SubjectKind.ACTION
    assert finding.device_id == device.device_id
    assert finding.subject_name == "applivery.refresh_info"
    assert finding.labels["trigger_rule"] == "win.refresh"
    assert runner.failure_findings("apple") == []


async def test_rejected_token_401_is_recorded_and_raises_a_failure_finding(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    device = applivery.active()[0]
    wrong = AppliveryClient(applivery_config(applivery.url, token="not-the-token"), clock=clock)
    runner = make_runner(actions_config(), store, clock)
    runner.clients = {"windows": wrong}
    try:
        [result] = await runner.run(
            [firing("win.refresh", device, at=clock.now())], rules(REFRESH_RULE), by_id([device])
        )
    finally:
        await wrong.close()

    assert result.status is ActionStatus.FAILED
    assert "token was refused (401)" in result.message
    assert "4004" in result.message
    assert "not-the-token" not in result.message
    [post] = applivery.sim.requests.matching(DEVICE_INFO, "POST")
    assert post.status == 401
    assert (await list_actions(store))[0].result == "failed"
    assert len(runner.failure_findings()) == 1


async def test_a_refresh_that_does_not_reach_the_device_is_a_failure(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    device = applivery.active()[0]
    applivery.sim.fleet.go_silent(device.device_id, clock.now())  # data.status false
    runner = make_runner(actions_config(), store, clock, applivery=applivery)

    [result] = await runner.run(
        [firing("win.refresh", device, at=clock.now())], rules(REFRESH_RULE), by_id([device])
    )

    assert result.status is ActionStatus.FAILED
    assert "did not send it to the device" in result.message
    assert len(applivery.sim.requests.matching(DEVICE_INFO, "POST")) == 1
    assert len(runner.failure_findings()) == 1


async def test_an_id_outside_the_documented_pattern_is_refused_before_sending(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    device = applivery.active()[0]
    bad = dataclasses.replace(device, device_id="not-a-win-id")
    runner = make_runner(actions_config(), store, clock, applivery=applivery)

    [result] = await runner.run(
        [firing("win.refresh", bad, at=clock.now())], rules(REFRESH_RULE), by_id([bad])
    )

    assert result.status is ActionStatus.REFUSED
    assert "winDeviceId" in result.message
    assert applivery.sim.requests.total == 0
    assert (await list_actions(store))[0].result == "refused"
    assert len(runner.failure_findings()) == 1
