"""From a sweep to an action: the shipped Windows rule, given an action by an override,
asks a stuck PC for its information once its alert fires, and a failure comes back as
an alert of its own on the next sweep."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from monitor import alerts
from monitor.actions import ACTION_FAILED_RULE, ActionStatus, list_actions
from monitor.clock import FakeClock
from monitor.engine import builtin_rules_dir, evaluate, load_rules
from monitor.models import AlertState, SourceKind
from monitor.simulator.applivery import DEVICE_INFO
from monitor.sources.applivery.sweeper import AppliverySweeper
from monitor.store import SqlStore
from tests.actions.conftest import AppliveryEnv, actions_config, make_runner

OVERRIDE = """
overrides:
  - id: applivery.windows.refresh-info-needed
    actions:
      - type: applivery.refresh_info
        params: {info: [hardware, certificates]}
        on: [first]
"""


async def test_sweep_rules_alerts_and_action(
    applivery: AppliveryEnv, store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    fleet = applivery.sim.fleet
    for d in fleet.devices:
        fleet.set_refresh_needed(d.id, [])
    answering, mute = [d for d in fleet.devices if d.state == "ACTIVE" and not d.silent][:2]
    fleet.set_refresh_needed(answering.id, ["hardware", "certificates"])
    fleet.set_refresh_needed(mute.id, ["hardware"])
    fleet.go_silent(mute.id, clock.now() - timedelta(hours=1))  # will not be reached
    mine = tmp_path / "mine.yaml"
    mine.write_text(OVERRIDE)
    ruleset = load_rules(
        [builtin_rules_dir({}) / "applivery-windows.yaml", mine], builtin=False
    )
    rules_by_id = {r.id: r for r in ruleset.rules}
    sweeper = AppliverySweeper(applivery.client, "windows")
    runner = make_runner(actions_config(), store, clock, applivery=applivery)
    previous: dict[str, Any] = {}

    async def cycle() -> tuple[alerts.StepResult, list[Any]]:
        outcome = await sweeper.sweep(ruleset.needs(SourceKind("applivery")))
        findings = evaluate(ruleset, outcome.facts(), clock.now())
        findings += runner.failure_findings("windows")
        step = alerts.step(previous, findings, outcome.coverage, clock.now())
        previous.clear()
        previous.update(step.alerts)
        results = await runner.run(step.transitions, rules_by_id, outcome.devices)
        return step, results

    _, results = await cycle()  # pending: the rule waits a day
    assert results == []
    assert applivery.writes() == []

    clock.advance(timedelta(days=1, minutes=5))
    _, results = await cycle()
    by_device = {r.request.device_id: r for r in results}
    assert by_device[answering.id].status is ActionStatus.DONE
    assert by_device[mute.id].status is ActionStatus.FAILED
    posted = {r.path.split("/")[-2]: r.body for r in applivery.sim.requests.matching(DEVICE_INFO)}
    assert posted == {
        answering.id: {"info": ["hardware", "certificates"]},
        mute.id: {"info": ["hardware", "certificates"]},
    }
    assert {e.result for e in await list_actions(store)} == {"done", "failed"}

    # The refresh completes; the next sweep resolves that alert and raises the failure.
    clock.advance(fleet.refresh_delay + 1)
    step, results = await cycle()
    assert results == []  # nothing new fired, nothing repeats
    states = {(a.rule_id, a.finding.device_id): a.state for a in step.alerts.values()}
    assert states[("applivery.windows.refresh-info-needed", answering.id)] is AlertState.RESOLVED
    assert states[(ACTION_FAILED_RULE, mute.id)] is AlertState.FIRING
    assert len(applivery.sim.requests.matching(DEVICE_INFO)) == 2
