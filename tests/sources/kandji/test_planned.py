"""The planned Kandji sweep against the simulator: same findings as the per-device sweep,
cheaper, exact coverage, and within the tenant's budget."""

from __future__ import annotations

import dataclasses

import pytest

from monitor.config import BudgetConfig
from monitor.engine import RuleSet, evaluate, load_rules
from monitor.models import FactKind, SourceKind, SubjectKind
from monitor.sources.budget import RequestBudget
from monitor.sources.kandji.api import (
    BLUEPRINT_LIBRARY_ITEMS,
    BLUEPRINTS,
    DEVICE_PARAMETERS,
    DEVICE_STATUS,
    DEVICES,
    LIBRARY_ITEM_STATUS,
)
from monitor.sources.kandji.feeds import AUDIT_EVENTS
from monitor.sources.kandji.per_device import KandjiPerDeviceSweeper
from monitor.sources.kandji.planned import KandjiPlannedSweeper
from tests.sources.kandji.tenant import (
    NEEDS,
    SHIPPED,
    StartTenant,
    both,
    findings_of,
    observed_ids,
    rule_filter,
)

# --------------------------------------------------------------------------- equality


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_planned_and_per_device_sweeps_find_the_same_things_as_the_fleet_evolves(
    start_tenant: StartTenant, seed: int
) -> None:
    # Never-checked-in devices, every platform, EXCLUDED and INCOMPATIBLE items,
    # profiles and parameters come from the fleet's own mix; raise the rare ones.
    tenant = await start_tenant(
        devices=320, seed=seed, never_checked_in_rate=0.03, item_failure_rate=0.05
    )
    fleet = tenant.sim.fleet
    assert any(fleet.device(i).last_check_in is None for i in fleet.device_indices())
    per_device, planned = await both(tenant)
    try:
        for _ in range(3):
            reference = await per_device.sweep(NEEDS)
            ours = await planned.sweep(NEEDS)
            assert ours.ok
            assert reference.ok
            expected = findings_of(reference, tenant)
            assert expected, "the fleet has failures to find"
            assert findings_of(ours, tenant) == expected
            assert ours.coverage.complete_kinds >= {
                FactKind.DEVICE,
                FactKind.LIBRARY_ITEMS,
                FactKind.PARAMETERS,
            }
            assert ours.requests < reference.requests
            tenant.clock.advance(300)
            fleet.advance(300)
    finally:
        await per_device.close()
        await planned.close()


async def test_every_rule_kind_is_found_the_same_way(start_tenant: StartTenant) -> None:
    # Every shipped rule on (stuck items, EDR, FileVault, OS minimums), profiles failed
    # and EXCLUDED rows planted on purpose, and one device whose blueprint the token
    # cannot list (no bulk route: it is read through /status).
    rules = load_rules([], builtin=True)
    everything = RuleSet([dataclasses.replace(r, enabled=True) for r in rules.rules])
    needs = everything.needs(SourceKind("kandji"))
    assert FactKind.DETAILS in needs
    tenant = await start_tenant(devices=200, seed=7)
    fleet = tenant.sim.fleet
    profile = next(it for it in fleet.items if it.is_profile)
    scope = list(fleet.item_scope(profile))
    fleet.set_item_status(fleet.device_id(scope[0]), profile.id, "failed")
    other = next(it for it in fleet.items if not it.is_profile)
    fleet.set_item_status(fleet.device_id(fleet.item_scope(other)[0]), other.id, "EXCLUDED")
    hidden = fleet.blueprint_of(scope[-1])
    tenant.sim.unlisted_blueprints.add(hidden.id)
    per_device = KandjiPerDeviceSweeper(tenant.client(), "acme")
    planned = KandjiPlannedSweeper(tenant.client(), "acme", keep=rule_filter(everything))
    try:
        reference = await per_device.sweep(needs)
        ours = await planned.sweep(needs)
        assert ours.ok
        found = findings_of(ours, tenant, everything)
        assert found == findings_of(reference, tenant, everything)
        assert any("Profile" in f[2] for f in found)
        report = planned.last_report
        assert report is not None
        members = set(fleet.blueprint_members(hidden))
        assert {fleet.device_index(d) for d in report.plan.status_reads} == members
        assert observed_ids(ours, FactKind.LIBRARY_ITEMS) == set(ours.coverage.devices)
    finally:
        await per_device.close()
        await planned.close()


# --------------------------------------------------------------------------- cost


async def test_the_request_count_is_the_one_the_plan_predicted(start_tenant: StartTenant) -> None:
    tenant = await start_tenant(devices=400, seed=5)
    planned = KandjiPlannedSweeper(tenant.client(), "acme", keep=rule_filter(SHIPPED))
    try:
        for _ in range(3):
            before = tenant.sim.requests.total
            outcome = await planned.sweep(NEEDS)
            report = planned.last_report
            assert report is not None
            served = tenant.sim.requests.total - before
            assert outcome.requests == served == report.predicted_requests
            tenant.clock.advance(300)
            tenant.sim.fleet.advance(300)
    finally:
        await planned.close()


async def test_a_steady_sweep_reads_each_item_fleet_wide_and_no_device_status(
    start_tenant: StartTenant,
) -> None:
    tenant = await start_tenant(devices=400, seed=5)
    fleet = tenant.sim.fleet
    planned = KandjiPlannedSweeper(tenant.client(), "acme", keep=rule_filter(SHIPPED))
    try:
        await planned.sweep(NEEDS)
        tenant.sim.requests.clear()
        await planned.sweep(NEEDS)
        assert tenant.requests(DEVICE_STATUS) == 0
        assert tenant.requests(DEVICE_PARAMETERS) == 0, "nothing checked in: nothing re-read"
        assert tenant.requests(AUDIT_EVENTS) == 1, "the audit feed, from where it stopped"
        assert tenant.requests(BLUEPRINTS) == 0, "no blueprint or item changed: not listed again"
        assert tenant.requests(BLUEPRINT_LIBRARY_ITEMS) == 0
        assigned = {j for bp in fleet.blueprints for j in bp.item_indices}
        pages = sum(max(1, -(-len(fleet.item_scope(fleet.items[j])) // 300)) for j in assigned)
        assert tenant.requests(LIBRARY_ITEM_STATUS) == pages
        assert tenant.requests(DEVICES) >= 2
    finally:
        await planned.close()


# --------------------------------------------------------------------------- check-ins


async def test_devices_that_did_not_check_in_are_not_read_again_yet_stay_observed(
    start_tenant: StartTenant,
) -> None:
    tenant = await start_tenant(devices=200, seed=2)
    planned = KandjiPlannedSweeper(tenant.client(), "acme", keep=rule_filter(SHIPPED))
    try:
        first = await planned.sweep(NEEDS)
        macs = {d.device_id for d in first.devices.values() if d.platform == "Mac"}
        assert len(macs) > 50
        tenant.clock.advance(120)
        tenant.sim.requests.clear()
        second = await planned.sweep(NEEDS)
        read_again = {r.path.split("/")[4] for r in tenant.sim.requests.matching(DEVICE_PARAMETERS)}
        moved = {
            did
            for did in macs
            if second.devices[did].last_check_in != first.devices[did].last_check_in
        }
        assert read_again == moved
        assert 0 < len(moved) < len(macs) / 2
        assert observed_ids(second, FactKind.PARAMETERS) == set(second.coverage.devices)
        assert findings_of(second, tenant) == findings_of(first, tenant)
    finally:
        await planned.close()


async def test_a_device_that_checks_in_is_read_again_and_its_new_failure_found(
    start_tenant: StartTenant,
) -> None:
    tenant = await start_tenant(devices=150, seed=3)
    fleet = tenant.sim.fleet
    planned = KandjiPlannedSweeper(tenant.client(), "acme", keep=rule_filter(SHIPPED))
    try:
        await planned.sweep(NEEDS)
        mac, param = next(
            (i, state.parameter)
            for i in fleet.device_indices()
            if fleet.platform_of(i) == "Mac"
            for state in fleet.device_parameters(i)
            if state.status == "PASS"
        )
        mac_id = fleet.device_id(mac)
        fleet.set_parameter_status(mac_id, param.id, "ERROR")
        # Not checked in yet: Kandji would not report the change, and it is not read.
        unseen = await planned.sweep(NEEDS)
        assert not any(
            f.device_id == mac_id and f.subject_id == param.id
            for f in evaluate(SHIPPED, unseen.facts(), tenant.clock.now())
        )
        tenant.clock.advance(1)
        fleet.check_in(mac_id)
        tenant.sim.requests.clear()
        seen = await planned.sweep(NEEDS)
        paths = [r.path for r in tenant.sim.requests.matching(DEVICE_PARAMETERS)]
        assert f"/api/v1/devices/{mac_id}/parameters" in paths
        assert any(
            f.device_id == mac_id
            and f.subject_id == param.id
            and f.rule_id.startswith("kandji.parameter")
            for f in evaluate(SHIPPED, seen.facts(), tenant.clock.now())
        )
    finally:
        await planned.close()


# --------------------------------------------------------------------------- failures


async def test_a_failed_item_page_leaves_that_items_devices_unobserved(
    start_tenant: StartTenant,
) -> None:
    tenant = await start_tenant(devices=700, seed=4)
    fleet = tenant.sim.fleet
    item = max(fleet.items, key=lambda it: len(fleet.item_scope(it)))
    scope = {fleet.device_id(i) for i in fleet.item_scope(item)}
    assert len(scope) > 300, "the item spans several pages"
    planned = KandjiPlannedSweeper(tenant.client(), "acme", keep=rule_filter(SHIPPED))
    try:
        await planned.sweep(NEEDS)
        # Its status pages fail (every attempt).
        tenant.sim.add_fault(f"/library/library-items/{item.id}/status$", "500")
        outcome = await planned.sweep(NEEDS)
        assert not outcome.ok
        assert any(item.id in e for e in outcome.errors)
        unobserved = set(outcome.coverage.devices) - observed_ids(outcome, FactKind.LIBRARY_ITEMS)
        assert unobserved == scope
        # Parameters do not depend on that item: still observed everywhere.
        assert observed_ids(outcome, FactKind.PARAMETERS) == set(outcome.coverage.devices)
    finally:
        await planned.close()


async def test_a_blueprint_whose_item_list_fails_leaves_its_devices_unobserved(
    start_tenant: StartTenant,
) -> None:
    tenant = await start_tenant(devices=200, seed=6)
    fleet = tenant.sim.fleet
    bp = max(fleet.blueprints, key=lambda b: len(fleet.blueprint_members(b)))
    tenant.sim.add_fault(f"/blueprints/{bp.id}/list-library-items", "500")
    planned = KandjiPlannedSweeper(tenant.client(), "acme", keep=rule_filter(SHIPPED))
    try:
        outcome = await planned.sweep(NEEDS)
        assert not outcome.ok
        members = {fleet.device_id(i) for i in fleet.blueprint_members(bp)}
        observed = observed_ids(outcome, FactKind.LIBRARY_ITEMS)
        assert observed == set(outcome.coverage.devices) - members
        assert tenant.requests(DEVICE_STATUS) <= len(fleet.blueprints) * 4, "no per-device fallback"
    finally:
        await planned.close()


# --------------------------------------------------------------------------- budget


async def test_the_budget_is_never_exceeded_and_overflow_reads_are_deferred(
    start_tenant: StartTenant,
) -> None:
    tenant = await start_tenant(devices=400, seed=8)
    budget = RequestBudget(
        BudgetConfig(requests_per_hour=250, burst_per_second=1000, concurrency=4), tenant.clock
    )
    planned = KandjiPlannedSweeper(
        tenant.client(budget=budget), "acme", keep=rule_filter(SHIPPED), budget_reserve=0.0
    )
    try:
        outcome = await planned.sweep(NEEDS)
        report = planned.last_report
        assert report is not None
        served = tenant.sim.requests.total
        assert served == outcome.requests <= 250
        assert budget.remaining == 250 - served
        assert report.plan.deferred, "the parameters of some Macs did not fit"
        unobserved = set(outcome.coverage.devices) - observed_ids(outcome, FactKind.PARAMETERS)
        assert unobserved == set(report.plan.deferred)
        assert observed_ids(outcome, FactKind.LIBRARY_ITEMS) == set(outcome.coverage.devices)
        # An hour later the window is free again: the deferred Macs are read first.
        tenant.clock.advance(3601)
        second = await planned.sweep(NEEDS)
        assert tenant.sim.requests.total - served == second.requests <= 250
        again = {r.path.split("/")[4] for r in tenant.sim.requests.matching(DEVICE_PARAMETERS)}
        assert set(report.plan.deferred) <= again
    finally:
        await planned.close()


async def test_a_small_fleet_with_many_items_is_read_per_device_when_that_is_cheaper(
    start_tenant: StartTenant,
) -> None:
    tenant = await start_tenant(devices=30, seed=9)
    per_device, planned = await both(tenant)
    try:
        await planned.sweep(NEEDS)
        report = planned.last_report
        assert report is not None
        assert report.plan.items_per_device
        assert report.plan.items == ()
        tenant.sim.requests.clear()
        ours = await planned.sweep(NEEDS)
        assert tenant.requests(BLUEPRINTS) == 0, "no discovery while the fleet stays small"
        assert tenant.requests(LIBRARY_ITEM_STATUS) == 0
        assert tenant.requests(DEVICE_STATUS) == 30
        reference = await per_device.sweep(NEEDS)
        assert ours.requests == reference.requests
        assert findings_of(ours, tenant) == findings_of(reference, tenant)
        assert observed_ids(ours, FactKind.LIBRARY_ITEMS) == set(ours.coverage.devices)
    finally:
        await per_device.close()
        await planned.close()


async def test_a_sweep_reads_its_pages_with_fewer_young_collections_and_restores_them(
    start_tenant: StartTenant,
) -> None:
    import gc

    from monitor.sources.kandji.collections_scope import YOUNG_THRESHOLD

    tenant = await start_tenant(devices=200, seed=5)
    keep = rule_filter(SHIPPED)
    during: set[tuple[int, int, int]] = set()

    def watching(kind: SubjectKind, status: str, type_: str) -> bool:
        during.add(gc.get_threshold())
        return keep(kind, status, type_)

    planned = KandjiPlannedSweeper(tenant.client(), "acme", keep=watching)
    before = gc.get_threshold()
    try:
        await planned.sweep(NEEDS)
        assert during
        assert all(t[0] >= YOUNG_THRESHOLD for t in during)
        assert gc.get_threshold() == before
    finally:
        await planned.close()
