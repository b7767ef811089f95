"""Paced planned sweeps against a simulated tenant: library items first and round the
fleet within the budget, parameters in their own share, the order of reads, and a
rival integration on the same tenant."""

from __future__ import annotations

from collections import Counter
from typing import Any

from monitor.clock import FakeClock
from monitor.engine import evaluate
from monitor.models import FactKind, SubjectKind
from monitor.simulator.kandji import FleetSpec, KandjiSimulator, start_kandji
from monitor.sources.base import SweepOutcome
from monitor.sources.kandji.api import DEVICE_PARAMETERS, LIBRARY_ITEM_STATUS
from monitor.sources.kandji.planned import KandjiPlannedSweeper
from tests.sources.kandji.tenant import (
    NEEDS,
    SHIPPED,
    TOKEN,
    StartTenant,
    Tenant,
    both,
    observed_ids,
    rule_filter,
)

INTERVAL = 300.0


def item_reads(sim: KandjiSimulator) -> list[str]:
    """The item ids of the fleet-wide status pages read since the log was cleared, in
    the order they were asked for."""
    return [r.path.split("/")[5] for r in sim.requests.matching(LIBRARY_ITEM_STATUS)]


def item_findings(outcome: SweepOutcome, tenant: Tenant) -> set[tuple[str, str, str]]:
    """The library-item findings of a sweep (fingerprint, status, summary)."""
    return {
        (f.fingerprint, f.subject_status, f.summary)
        for f in evaluate(SHIPPED, outcome.facts(), tenant.clock.now())
        if f.subject_kind is SubjectKind.LIBRARY_ITEM
    }


def paced(tenant: Tenant, per_hour: int, **options: Any) -> KandjiPlannedSweeper:
    """A sweeper paced to ``per_hour`` requests an hour, sweeping every 5 minutes (a
    fixed cadence: these tests sweep on it; see test_cadence.py for a shorter one)."""
    options.setdefault("interval", INTERVAL)
    options.setdefault("min_interval", options["interval"] or 60.0)
    client = tenant.client(requests_per_hour=per_hour, concurrency=options.pop("concurrency", 8))
    return KandjiPlannedSweeper(client, "acme", keep=rule_filter(SHIPPED), **options)


def all_item_pages(tenant: Tenant) -> int:
    fleet = tenant.sim.fleet
    assigned = {j for bp in fleet.blueprints for j in bp.item_indices}
    return sum(max(1, -(-len(fleet.item_scope(fleet.items[j])) // 300)) for j in assigned)


async def test_parameters_never_delay_library_items(start_tenant: StartTenant) -> None:
    tenant = await start_tenant(devices=400, seed=11)
    # 1,200 an hour earn 95 requests per 5-minute sweep: every item page (about 60)
    # fits, the Macs that checked in (about 80 every 5 minutes) do not.
    planned = paced(tenant, 1200, per_device_share=0.1)
    try:
        await planned.sweep(NEEDS)
        for _ in range(3):
            tenant.clock.advance(INTERVAL)
            tenant.sim.fleet.advance(INTERVAL)
            tenant.sim.requests.clear()
            outcome = await planned.sweep(NEEDS)
            report = planned.last_report
            assert report is not None
            assert report.pace == 95
            assert tenant.requests(LIBRARY_ITEM_STATUS) == all_item_pages(tenant)
            assert observed_ids(outcome, FactKind.LIBRARY_ITEMS) == set(outcome.coverage.devices)
            assert report.plan.deferred, "some Macs' parameters wait for a later sweep"
            assert 9 <= tenant.requests(DEVICE_PARAMETERS) == len(report.plan.parameter_reads)
            assert outcome.requests == tenant.sim.requests.total <= report.pace
    finally:
        await planned.close()


async def test_items_that_do_not_fit_are_read_in_turn_and_their_devices_stay_observed(
    start_tenant: StartTenant,
) -> None:
    tenant = await start_tenant(devices=400, seed=12)
    fleet = tenant.sim.fleet
    per_device = (await both(tenant))[0]
    # 400 an hour earn 31 requests a sweep: a third of the item pages.
    planned = paced(tenant, 400, per_device_share=0.0)
    try:
        await planned.sweep(NEEDS)
        seen: Counter[str] = Counter()
        for _ in range(3):
            tenant.clock.advance(INTERVAL)
            tenant.sim.requests.clear()
            outcome = await planned.sweep(NEEDS)
            report = planned.last_report
            assert report is not None
            assert report.plan.deferred_items
            assert report.pace is not None
            seen.update(set(item_reads(tenant.sim)))
            assert tenant.sim.requests.total <= report.pace + 5  # one item may overrun
            # Deferred items stand on their last read: nothing is held, nothing differs.
            assert observed_ids(outcome, FactKind.LIBRARY_ITEMS) == set(outcome.coverage.devices)
            assert item_findings(outcome, tenant) == item_findings(
                await per_device.sweep(NEEDS), tenant
            )
        assert set(seen) == {fleet.items[j].id for bp in fleet.blueprints for j in bp.item_indices}
        # A new failure of the item read last is found when its turn comes, not before.
        last = item_reads(tenant.sim)[-1]
        item = fleet.item(last)
        assert item is not None
        device_id = fleet.device_id(fleet.item_scope(item)[0])
        fleet.set_item_status(device_id, item.id, "failed" if item.is_profile else "ERROR")
        found_in = None
        for n in range(1, 5):
            tenant.clock.advance(INTERVAL)
            tenant.sim.requests.clear()
            outcome = await planned.sweep(NEEDS)
            hit = any(
                (f.device_id, f.subject_id) == (device_id, item.id)
                for f in evaluate(SHIPPED, outcome.facts(), tenant.clock.now())
            )
            assert hit == (found_in is not None or item.id in item_reads(tenant.sim))
            if hit and found_in is None:
                found_in = n
        assert found_in is not None
        assert found_in >= 2
    finally:
        await per_device.close()
        await planned.close()


async def test_an_item_unread_for_over_an_hour_leaves_its_devices_unobserved(
    start_tenant: StartTenant,
) -> None:
    tenant = await start_tenant(devices=400, seed=13)
    planned = paced(tenant, 400, per_device_share=0.0)
    try:
        await planned.sweep(NEEDS)
        tenant.clock.advance(3700)  # longer than the last read of any item stands
        outcome = await planned.sweep(NEEDS)
        report = planned.last_report
        assert report is not None
        assert report.plan.deferred_items
        unobserved = set(outcome.coverage.devices) - observed_ids(outcome, FactKind.LIBRARY_ITEMS)
        state = planned.state
        carriers = {
            did
            for did, dev in outcome.devices.items()
            if state.groups.get((dev.blueprint_id, dev.platform), frozenset())
            & set(report.plan.deferred_items)
        }
        assert unobserved == carriers
        assert unobserved
    finally:
        await planned.close()


async def test_failing_items_and_items_whose_devices_checked_in_are_read_first(
    start_tenant: StartTenant,
) -> None:
    tenant = await start_tenant(devices=400, seed=14, item_failure_rate=0.002)
    fleet = tenant.sim.fleet
    planned = paced(tenant, 1_000_000, interval=None, concurrency=1)
    try:
        await planned.sweep(NEEDS)
        failing = set(planned.state.unhealthy_items)
        assigned = {fleet.items[j].id for bp in fleet.blueprints for j in bp.item_indices}
        healthy = assigned - failing
        assert failing
        assert healthy
        # Some iPhones or iPads report (time stands still for every other device).
        mobile = [b for b in fleet.blueprints if "Mac" not in {fleet.platform_of(i)
                  for i in fleet.blueprint_members(b)}]
        bp = max(mobile, key=lambda b: len({fleet.items[j].id for j in b.item_indices} & healthy))
        reported = {fleet.items[j].id for j in bp.item_indices} & healthy
        assert reported
        tenant.clock.advance(1)
        for i in fleet.blueprint_members(bp)[:20]:
            fleet.check_in(fleet.device_id(i))
        tenant.sim.requests.clear()
        await planned.sweep(NEEDS)
        order = list(dict.fromkeys(item_reads(tenant.sim)))
        assert set(order[: len(failing)]) == failing
        rest = order[len(failing) :]
        assert set(rest[: len(reported)]) == reported
    finally:
        await planned.close()


async def test_a_rival_spending_half_the_tenants_hour_costs_no_429() -> None:
    # The tenant allows 1,000 an hour; another integration spends 500 of them. The
    # monitor's own budget would allow all 1,000: paced sweeps leave the rival its half
    # and the reserve, meet no 429, and use most of the rest.
    clock = FakeClock(autojump=True)
    runner, url, sim = await start_kandji(
        clock=clock, token=TOKEN, spec=FleetSpec(devices=300, seed=15),
        per_second=None, per_hour=1000, rival_per_hour=500,
    )
    tenant = Tenant(url, sim, clock)
    client = tenant.client(requests_per_hour=1000)
    planned = KandjiPlannedSweeper(
        client, "acme", keep=rule_filter(SHIPPED), interval=60.0, per_device_share=0.1
    )
    try:
        start = clock.monotonic()
        for k in range(1, 121):
            await planned.sweep(NEEDS)
            sim.fleet.advance(0)
            due = start + 60.0 * k
            if clock.monotonic() < due:
                clock.advance(due - clock.monotonic())
    finally:
        await planned.close()
        await runner.cleanup()
    assert sim.limiter.rejected == 0
    left_to_monitor = 2 * (1000 - 500 - 50)  # two hours, less the rival and the reserve
    assert sim.limiter.answered >= 0.9 * left_to_monitor
    assert sim.limiter.answered <= 2 * (1000 - 500)
