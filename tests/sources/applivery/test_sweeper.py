"""AppliverySweeper against a simulated organization: coverage says what was seen, and
the shipped Windows rules fire on the devices that break them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from monitor import alerts
from monitor.clock import FakeClock
from monitor.config import BudgetConfig, RetryConfig
from monitor.engine import builtin_rules_dir, evaluate, load_rules
from monitor.models import AlertState, FactKind, SourceKind
from monitor.simulator.applivery import DEVICES, AppliverySimulator, start_applivery
from monitor.sources.applivery.client import AppliveryClient
from monitor.sources.applivery.config import AppliverySourceConfig
from monitor.sources.applivery.sweeper import AppliverySweeper

TOKEN = "applivery-sweep-token-41"
NEEDS = frozenset({FactKind.DEVICE})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(autojump=True)


@pytest.fixture
async def org(clock: FakeClock) -> AsyncIterator[tuple[str, AppliverySimulator]]:
    runner, url, sim = await start_applivery(
        clock=clock, token=TOKEN, devices=45, seed=11, per_second=None, per_hour=None
    )
    yield url, sim
    await runner.cleanup()


def sweeper(url: str, clock: FakeClock, **overrides: Any) -> AppliverySweeper:
    values: dict[str, Any] = {
        "name": "windows",
        "kind": "applivery",
        "url": url,
        "token": SecretStr(TOKEN),
        "organization": "acme-workspace",
        "page_size": 10,
        "budget": BudgetConfig(requests_per_hour=10_000, burst_per_second=1000),
        "retry": RetryConfig(max_attempts=2, backoff_base=timedelta(seconds=1)),
    }
    values.update(overrides)
    config = AppliverySourceConfig(**values)
    return AppliverySweeper(AppliveryClient(config, clock=clock), "windows")


async def test_a_complete_scan_covers_every_device(
    org: tuple[str, AppliverySimulator], clock: FakeClock
) -> None:
    url, sim = org
    sw = sweeper(url, clock)
    try:
        outcome = await sw.sweep(NEEDS | {FactKind.APPS})
    finally:
        await sw.close()

    listed = {d.id for d in sim.fleet.listed()}
    assert outcome.ok
    assert outcome.errors == []
    assert set(outcome.devices) == listed
    cov = outcome.coverage
    assert cov.source == "windows"
    assert cov.device_list_complete
    assert cov.devices == listed
    assert cov.complete_kinds == {FactKind.DEVICE}  # Applivery has no app facts to give
    assert outcome.requests == sim.requests.count(DEVICES) == -(-len(listed) // 10)
    some = next(iter(outcome.devices.values()))
    assert some.source == "windows"
    assert some.source_kind == SourceKind("applivery")


async def test_a_scan_cut_short_reports_what_it_saw_as_partial(
    org: tuple[str, AppliverySimulator], clock: FakeClock
) -> None:
    url, sim = org
    # The third page is refused for the rest of the hour (an answer no header foretold).
    sim.add_fault(r"/devices$", "429", after=2, retry_after=3600)
    sw = sweeper(url, clock)
    try:
        outcome = await sw.sweep(NEEDS)
    finally:
        await sw.close()

    assert not outcome.ok
    assert "list devices" in outcome.errors[0]
    assert "429" in outcome.errors[0]
    assert len(outcome.devices) == 20
    cov = outcome.coverage
    assert not cov.device_list_complete
    assert cov.complete_kinds == frozenset()
    some = next(iter(outcome.devices))
    assert cov.observed(FactKind.DEVICE, some)
    unseen = next(d.id for d in sim.fleet.listed() if d.id not in outcome.devices)
    assert not cov.observed(FactKind.DEVICE, unseen)


async def test_a_refused_token_observes_nothing(
    org: tuple[str, AppliverySimulator], clock: FakeClock
) -> None:
    url, _ = org
    sw = sweeper(url, clock, token=SecretStr("wrong"))
    try:
        outcome = await sw.sweep(NEEDS)
    finally:
        await sw.close()
    assert not outcome.ok
    assert "4004" in outcome.errors[0]
    assert outcome.devices == {}
    assert outcome.coverage.devices == frozenset()
    assert not outcome.coverage.device_list_complete


async def test_shipped_windows_rules_fire_on_what_breaks_and_resolve_on_recovery(
    org: tuple[str, AppliverySimulator], clock: FakeClock
) -> None:
    url, sim = org
    fleet = sim.fleet
    healthy = [d for d in fleet.devices if d.state == "ACTIVE" and d.compliant
               and not d.silent and not d.refresh_needed and not d.sync_error
               and not d.config_errors]
    broken, silent, stuck, leaving, failing, unapplied = healthy[:6]
    fleet.set_compliance(broken.id, False)
    fleet.go_silent(silent.id, clock.now() - timedelta(days=9))
    fleet.set_refresh_needed(stuck.id, ["certificates"])
    fleet.set_state(leaving.id, "DELETE_REQUESTED")
    fleet.set_sync_error(failing.id, "OMA-DM session timed out")
    unapplied.config_errors.append("./Device/Vendor/MSFT/Policy/Config/Defender/AllowArchiveScanning")
    rules = load_rules([builtin_rules_dir({}) / "applivery-windows.yaml"], builtin=False)
    sw = sweeper(url, clock)

    async def cycle(previous: dict[str, Any]) -> alerts.StepResult:
        outcome = await sw.sweep(rules.needs(SourceKind("applivery")))
        findings = evaluate(rules, outcome.facts(), clock.now())
        return alerts.step(previous, findings, outcome.coverage, clock.now())

    try:
        first = await cycle({})
        clock.advance(timedelta(days=1, minutes=1))  # past every rule's `for`
        second = await cycle(dict(first.alerts))
        firing = {
            (a.rule_id, a.finding.device_id)
            for a in second.alerts.values()
            if a.state is AlertState.FIRING
        }
        assert ("applivery.windows.non-compliant", broken.id) in firing
        assert ("applivery.windows.not-reporting", silent.id) in firing
        assert ("applivery.windows.refresh-info-needed", stuck.id) in firing
        assert ("applivery.windows.state", leaving.id) in firing
        assert ("applivery.windows.sync-error", failing.id) in firing
        assert ("applivery.windows.policy-settings-failed", unapplied.id) in firing
        others = {d.id for d in healthy[6:]}
        assert not {dev for _, dev in firing} & others

        fleet.set_compliance(broken.id, True)
        third = await cycle(dict(second.alerts))
        resolved = {
            (t.alert.rule_id, t.alert.finding.device_id)
            for t in third.transitions
            if t.current is AlertState.RESOLVED
        }
        assert resolved == {("applivery.windows.non-compliant", broken.id)}
    finally:
        await sw.close()
