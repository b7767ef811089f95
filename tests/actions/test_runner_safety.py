"""The runner's safety rules: caps, cool-downs, triggers, baselines, failures that stay
visible until they are fixed, and the audit listing."""

from __future__ import annotations

from datetime import timedelta

from monitor.actions import (
    ACTION_FAILED_RULE,
    ActionRunner,
    ActionStatus,
    check_actions,
    format_actions,
    list_actions,
)
from monitor.clock import FakeClock
from monitor.config import ActionLimits
from monitor.models import AlertState, Severity
from monitor.simulator.applivery import DEVICE_INFO
from monitor.store import SqlStore
from tests.actions.conftest import (
    AppliveryEnv,
    KandjiEnv,
    actions_config,
    by_id,
    firing,
    make_runner,
    resolved,
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
      - {type: applivery.refresh_info, on: [first, repeat]}
"""

FIRST_ONLY_RULE = REFRESH_RULE.replace("on: [first, repeat]", "on: [first]")

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


def posts(env: AppliveryEnv) -> list[str]:
    return [r.path.split("/")[-2] for r in env.sim.requests.matching(DEVICE_INFO, "POST")]


async def test_per_sweep_cap_stops_the_rest_and_records_it(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    devices = applivery.active()[:5]
    runner = make_runner(actions_config(per_sweep=2), store, clock, applivery=applivery)

    results = await runner.run(
        [firing("win.refresh", d, at=clock.now()) for d in devices],
        rules(REFRESH_RULE),
        by_id(devices),
    )

    assert [r.status for r in results].count(ActionStatus.DONE) == 2
    assert [r.status for r in results].count(ActionStatus.CAPPED) == 3
    assert len(posts(applivery)) == 2
    capped = [e for e in await list_actions(store) if e.result == "capped"]
    assert len(capped) == 3
    assert "per-sweep cap of 2" in capped[0].message
    assert runner.failure_findings() == []  # a cap is not a failure


async def test_most_severe_alerts_get_their_actions_first_under_a_cap(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    devices = applivery.active()[:4]
    transitions = [firing("win.refresh", d, at=clock.now()) for d in devices[:3]]
    transitions.append(
        firing("win.refresh", devices[3], at=clock.now(), severity=Severity.CRITICAL)
    )
    runner = make_runner(actions_config(per_sweep=1), store, clock, applivery=applivery)

    await runner.run(transitions, rules(REFRESH_RULE), by_id(devices))

    assert posts(applivery) == [devices[3].device_id]


async def test_hourly_cap_holds_across_sweeps_and_frees_after_an_hour(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    devices = applivery.active()[:6]
    config = actions_config(per_sweep=10, per_hour=3)
    runner = make_runner(config, store, clock, applivery=applivery)
    rule = rules(REFRESH_RULE)

    await runner.run([firing("win.refresh", d, at=clock.now()) for d in devices[:2]], rule, {})
    clock.advance(timedelta(minutes=20))
    second = await runner.run(
        [firing("win.refresh", d, at=clock.now()) for d in devices[2:4]], rule, {}
    )
    assert [r.status for r in second] == [ActionStatus.DONE, ActionStatus.CAPPED]
    assert len(posts(applivery)) == 3

    clock.advance(timedelta(minutes=41))  # the first two are now more than an hour old
    third = await runner.run(
        [firing("win.refresh", d, at=clock.now()) for d in devices[4:6]], rule, {}
    )
    assert [r.status for r in third] == [ActionStatus.DONE, ActionStatus.DONE]
    assert len(posts(applivery)) == 5


async def test_hourly_cap_survives_a_restart(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    devices = applivery.active()[:3]
    config = actions_config(per_hour=2)
    rule = rules(REFRESH_RULE)
    first = make_runner(config, store, clock, applivery=applivery)
    await first.run([firing("win.refresh", d, at=clock.now()) for d in devices[:2]], rule, {})

    restarted = make_runner(config, store, clock, applivery=applivery)
    [result] = await restarted.run([firing("win.refresh", devices[2], at=clock.now())], rule, {})

    assert result.status is ActionStatus.CAPPED
    assert len(posts(applivery)) == 2


async def test_per_action_limits_override_the_defaults(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    devices = applivery.active()[:3]
    config = actions_config(
        per_sweep=10, per_action={"applivery.refresh_info": ActionLimits(per_sweep=1)}
    )
    runner = make_runner(config, store, clock, applivery=applivery)
    results = await runner.run(
        [firing("win.refresh", d, at=clock.now()) for d in devices], rules(REFRESH_RULE), {}
    )
    assert [r.status for r in results].count(ActionStatus.DONE) == 1


async def test_never_twice_on_a_device_within_the_cooldown(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    device = applivery.active()[0]
    runner = make_runner(actions_config(cooldown=timedelta(hours=6)), store, clock,
                         applivery=applivery)
    rule = rules(REFRESH_RULE)
    t = firing("win.refresh", device, at=clock.now())

    await runner.run([t], rule, {})
    # Resolved and firing again an hour later: a new "first", still inside the cool-down.
    clock.advance(timedelta(hours=1))
    await runner.run([resolved(t, at=clock.now())], rule, {})
    clock.advance(timedelta(hours=1))
    [again] = await runner.run(
        [firing("win.refresh", device, at=clock.now(), previous=AlertState.RESOLVED)], rule, {}
    )
    assert again.status is ActionStatus.COOLDOWN
    assert len(posts(applivery)) == 1
    # Cool-down skips are not audit entries (they would pile up every sweep).
    assert [e.result for e in await list_actions(store)] == ["done"]

    clock.advance(timedelta(hours=4, minutes=1))
    [later] = await runner.run(
        [firing("win.refresh", device, at=clock.now(), previous=AlertState.RESOLVED)], rule, {}
    )
    assert later.status is ActionStatus.DONE
    assert len(posts(applivery)) == 2


async def test_a_failed_attempt_also_starts_the_cooldown(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    device = applivery.active()[0]
    applivery.sim.fleet.purge(device.device_id)
    runner = make_runner(actions_config(), store, clock, applivery=applivery)
    rule = rules(REFRESH_RULE)
    alert = firing("win.refresh", device, at=clock.now())
    await runner.run([alert], rule, {})
    clock.advance(timedelta(minutes=5))
    [repeat] = await runner.run([], rule, {}, firing=[alert.alert])
    assert repeat.status is ActionStatus.COOLDOWN
    assert len(posts(applivery)) == 1
    # The failure stays visible while it is open.
    assert len(runner.failure_findings()) == 1


async def test_repeat_runs_only_when_the_rule_asks_for_it(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    device = applivery.active()[0]
    config = actions_config(cooldown=timedelta(hours=1))
    t = firing("win.refresh", device, at=clock.now())

    first_only = make_runner(config, store, clock, applivery=applivery)
    await first_only.run([t], rules(FIRST_ONLY_RULE), {})
    clock.advance(timedelta(hours=2))
    assert await first_only.run([], rules(FIRST_ONLY_RULE), {}, firing=[t.alert]) == []
    assert len(posts(applivery)) == 1

    with_repeat = make_runner(config, store, clock, applivery=applivery)
    [result] = await with_repeat.run([], rules(REFRESH_RULE), {}, firing=[t.alert])
    assert result.status is ActionStatus.DONE
    assert result.request.trigger == "repeat"
    assert len(posts(applivery)) == 2


async def test_baseline_alerts_trigger_nothing(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    devices = applivery.active()[:3]
    runner = make_runner(actions_config(), store, clock, applivery=applivery)
    results = await runner.run(
        [firing("win.refresh", d, at=clock.now(), baseline=True) for d in devices],
        rules(REFRESH_RULE),
        by_id(devices),
    )
    assert results == []
    assert applivery.sim.requests.total == 0


async def test_an_action_on_the_wrong_kind_of_source_is_refused(
    applivery: AppliveryEnv, kandji: KandjiEnv, store: SqlStore, clock: FakeClock
) -> None:
    windows_pc = applivery.active()[0]
    text = TAG_RULE.replace("source: kandji", "source: any").replace(
        "match: {platform: Mac}", "match: {platform: Windows}"
    )
    runner = make_runner(actions_config(), store, clock, kandji=kandji, applivery=applivery)
    [result] = await runner.run(
        [firing("mac.tag", windows_pc, at=clock.now())], rules(text), by_id([windows_pc])
    )
    assert result.status is ActionStatus.REFUSED
    assert "acts on kandji sources" in result.message
    assert applivery.sim.requests.total == 0
    assert kandji.sim.requests.total == 0


async def test_failure_alert_resolves_when_the_triggering_alert_resolves(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    device = applivery.active()[0]
    applivery.sim.fleet.purge(device.device_id)
    runner = make_runner(actions_config(), store, clock, applivery=applivery)
    t = firing("win.refresh", device, at=clock.now())
    [_result] = await runner.run([t], rules(REFRESH_RULE), {})
    [finding] = runner.failure_findings()
    assert finding.rule_id == ACTION_FAILED_RULE
    assert finding.subject_status == "failed"
    assert "win.refresh" in finding.description

    clock.advance(timedelta(minutes=10))
    assert await runner.run([resolved(t, at=clock.now())], rules(REFRESH_RULE), {}) == []
    assert runner.failure_findings() == []


async def test_failure_alert_resolves_when_the_action_later_succeeds(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    device = applivery.active()[0]
    applivery.sim.fleet.go_silent(device.device_id, clock.now())
    runner = make_runner(actions_config(cooldown=timedelta(hours=1)), store, clock,
                         applivery=applivery)
    t = firing("win.refresh", device, at=clock.now())
    await runner.run([t], rules(REFRESH_RULE), {})
    first = runner.failure_findings()
    assert len(first) == 1

    applivery.sim.fleet.report(device.device_id)
    clock.advance(timedelta(hours=2))
    [result] = await runner.run([], rules(REFRESH_RULE), {}, firing=[t.alert])
    assert result.status is ActionStatus.DONE
    assert runner.failure_findings() == []


async def test_failure_fingerprint_is_stable_across_attempts(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    device = applivery.active()[0]
    applivery.sim.fleet.purge(device.device_id)
    runner = make_runner(actions_config(cooldown=timedelta(minutes=30)), store, clock,
                         applivery=applivery)
    t = firing("win.refresh", device, at=clock.now())
    await runner.run([t], rules(REFRESH_RULE), {})
    before = runner.failure_findings()[0].fingerprint
    clock.advance(timedelta(hours=1))
    await runner.run([], rules(REFRESH_RULE), {}, firing=[t.alert])
    assert [f.fingerprint for f in runner.failure_findings()] == [before]


async def test_open_failures_are_restored_after_a_restart(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    devices = applivery.active()[:2]
    for d in devices:
        applivery.sim.fleet.purge(d.device_id)
    runner = make_runner(actions_config(), store, clock, applivery=applivery)
    transitions = [firing("win.refresh", d, at=clock.now()) for d in devices]
    await runner.run(transitions, rules(REFRESH_RULE), {})
    before = sorted(f.fingerprint for f in runner.failure_findings())
    assert len(before) == 2

    # After the restart, one triggering alert is still firing, the other resolved.
    alerts = {
        transitions[0].fingerprint: transitions[0].alert,
        transitions[1].fingerprint: resolved(transitions[1], at=clock.now()).alert,
    }
    restarted = make_runner(actions_config(), store, clock, applivery=applivery)
    assert await restarted.restore(alerts) == 1
    [finding] = restarted.failure_findings()
    assert finding.fingerprint in before
    assert finding.device_id == devices[0].device_id


async def test_actions_list_shows_who_what_when_and_result(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    devices = applivery.active()[:2]
    applivery.sim.fleet.purge(devices[1].device_id)
    runner = make_runner(actions_config(), store, clock, applivery=applivery)
    await runner.run(
        [firing("win.refresh", d, at=clock.now()) for d in devices], rules(REFRESH_RULE), {}
    )

    entries = await list_actions(store, source="windows")
    assert {e.result for e in entries} == {"done", "failed"}
    one = await list_actions(store, source="windows", device=devices[0].device_id)
    assert [e.device_id for e in one] == [devices[0].device_id]
    assert await list_actions(store, source="apple") == []

    table = format_actions(entries)
    lines = table.splitlines()
    assert lines[0].split() == ["WHEN", "(UTC)", "ACTION", "DEVICE", "RULE", "RESULT", "WHAT"]
    assert len(lines) == 3
    assert all("applivery.refresh_info" in line and "win.refresh" in line for line in lines[1:])
    assert any("failed" in line and "404" in line for line in lines[1:])
    assert format_actions([]) == "no actions recorded"


async def test_check_actions_names_every_problem() -> None:
    text = """
rules:
  - id: r.bad
    description: d
    source: applivery
    subject: device
    match: {compliance: false}
    actions:
      - {type: kandji.tag, params: {add: x}}
      - {type: applivery.refresh_info, params: {info: []}}
      - {type: no.such.action}
      - {type: kandji.update_inventory, params: {now: true}}
  - id: r.good
    description: d
    source: applivery
    subject: device
    match: {compliance: false}
    actions:
      - {type: applivery.refresh_info, params: {info: hardware}}
"""
    config = actions_config(per_action={"kandji.tagg": ActionLimits()})
    problems = check_actions(config, rules(text).values())
    joined = "\n".join(problems)
    assert "per_action.kandji.tagg" in joined
    assert "acts on kandji sources, but the rule is about applivery sources" in joined
    assert "info needs at least one category" in joined
    assert "unknown action type" in joined
    assert "takes no params" in joined
    assert "r.good" not in joined
    assert len(problems) == 6  # kandji.update_inventory is also a kandji action


async def test_runner_refuses_when_no_client_serves_the_source(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock
) -> None:
    device = applivery.active()[0]
    runner = ActionRunner(actions_config(), store, {}, clock)
    [result] = await runner.run(
        [firing("win.refresh", device, at=clock.now())], rules(REFRESH_RULE), {}
    )
    assert result.status is ActionStatus.REFUSED
    assert "no client" in result.message
    assert applivery.sim.requests.total == 0
