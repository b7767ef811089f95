"""How often paced sweeps come and how much each may spend: the cadence the budget
affords a full pass, and sweeps at the hour's turn not starved by the own window."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from monitor.clock import FakeClock
from monitor.simulator.kandji import FleetSpec, start_kandji
from monitor.sources.kandji.api import LIBRARY_ITEM_STATUS
from monitor.sources.kandji.planned import KandjiPlannedSweeper
from tests.sources.kandji.tenant import NEEDS, SHIPPED, TOKEN, Tenant, rule_filter

INTERVAL = 300.0


@pytest.fixture
async def tenant() -> AsyncIterator[Tenant]:
    """400 devices, no rate limits on the tenant's side; a clock that jumps over waits
    (so the own hourly window can be waited out)."""
    clock = FakeClock(autojump=True)
    runner, url, sim = await start_kandji(
        clock=clock, token=TOKEN, spec=FleetSpec(devices=400, seed=11),
        per_second=None, per_hour=None,
    )
    yield Tenant(url, sim, clock)
    await runner.cleanup()


def sweeper(tenant: Tenant, per_hour: int, min_interval: float = 60.0) -> KandjiPlannedSweeper:
    client = tenant.client(requests_per_hour=per_hour, concurrency=8)
    return KandjiPlannedSweeper(
        client, "acme", keep=rule_filter(SHIPPED), interval=INTERVAL, per_device_share=0.1,
        min_interval=min_interval,
    )


def all_item_pages(tenant: Tenant) -> int:
    fleet = tenant.sim.fleet
    assigned = {j for bp in fleet.blueprints for j in bp.item_indices}
    return sum(max(1, -(-len(fleet.item_scope(fleet.items[j])) // 300)) for j in assigned)


async def test_sweeps_come_as_often_as_the_budget_affords_a_full_pass(tenant: Tenant) -> None:
    # 2,400 an hour, less the 5% reserve, earn a full pass (the device list, the feed,
    # about 60 item pages, and the per-device share on top) in about two minutes: the
    # cadence is that, not the 5-minute interval, and every such sweep reads every item.
    # (Once in the first hour it is longer: the cold first sweep spent more than a pace,
    # and the own window must let those requests go before a full pass fits again.)
    planned = sweeper(tenant, 2400)
    try:
        await planned.sweep(NEEDS)
        start = tenant.clock.monotonic()
        passes = 0
        while tenant.clock.monotonic() - start < 3600:
            cadence = planned.cadence
            assert cadence is not None
            assert 60.0 <= cadence <= INTERVAL
            due = tenant.clock.monotonic() + cadence - 1e-6
            tenant.clock.advance(max(0.0, due - tenant.clock.monotonic()))
            tenant.sim.fleet.advance(0)
            tenant.sim.requests.clear()
            await planned.sweep(NEEDS)
            report = planned.last_report
            assert report is not None
            assert not report.plan.deferred_items
            assert tenant.requests(LIBRARY_ITEM_STATUS) == all_item_pages(tenant)
            passes += 1
        assert passes >= 2 * 3600 / INTERVAL, "twice the full passes the interval gives"
        # The hourly spending is what the budget less its reserve allows, not more.
        assert planned.client.budget.own_remaining >= 0.05 * 2400 - 1
    finally:
        await planned.close()


async def test_the_cadence_never_exceeds_the_interval_nor_undercuts_min_interval(
    tenant: Tenant,
) -> None:
    tight = sweeper(tenant, 400)  # a pass costs more than 5 minutes earn
    rich = sweeper(tenant, 1_000_000, min_interval=90.0)
    try:
        await tight.sweep(NEEDS)
        await rich.sweep(NEEDS)
        assert tight.cadence == INTERVAL
        assert rich.cadence == 90.0
    finally:
        await tight.close()
        await rich.close()


async def test_a_sweep_at_the_hours_turn_is_not_starved_by_the_own_window(
    tenant: Tenant,
) -> None:
    # 1,200 an hour earn 95 requests per 5-minute sweep: every item page fits, and the
    # Macs' parameters (a backlog) take the rest, so each sweep spends its whole pace
    # and the own sliding window holds nearly the whole hour when the 13th sweep comes,
    # on the hour. The first sweep's requests leave the window while it runs: it must
    # plan on them rather than defer every item.
    planned = sweeper(tenant, 1200, min_interval=INTERVAL)
    try:
        start = tenant.clock.monotonic()
        for k in range(15):
            due = start + k * INTERVAL
            if tenant.clock.monotonic() < due:
                tenant.clock.advance(due - tenant.clock.monotonic())
            tenant.sim.fleet.advance(0)
            await planned.sweep(NEEDS)
            report = planned.last_report
            assert report is not None
            assert report.plan.deferred, "the Macs' parameters are a backlog"
            assert not report.plan.deferred_items, f"sweep {k} deferred items"
    finally:
        await planned.close()
