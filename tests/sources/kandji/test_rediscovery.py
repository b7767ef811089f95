"""Blueprints and their item lists are read again only when the audit feed shows a change
(or at the safety cadence), against a simulated tenant on loopback."""

from __future__ import annotations

from monitor.engine import evaluate
from monitor.sources.kandji.api import BLUEPRINT_LIBRARY_ITEMS, BLUEPRINTS, DEVICE_STATUS
from monitor.sources.kandji.feeds import AUDIT_EVENTS
from tests.sources.kandji.tenant import (
    NEEDS,
    SHIPPED,
    StartTenant,
    Tenant,
    both,
    findings_of,
    planned_sweeper,
)


def discoveries(tenant: Tenant) -> tuple[int, int]:
    """(``GET /blueprints``, ``list-library-items``) requests since the log was cleared."""
    return tenant.requests(BLUEPRINTS), tenant.requests(BLUEPRINT_LIBRARY_ITEMS)


async def test_steady_sweeps_read_the_feed_and_never_list_blueprints(
    start_tenant: StartTenant,
) -> None:
    tenant = await start_tenant(devices=300, seed=2)
    async with planned_sweeper(tenant) as planned:
        await planned.sweep(NEEDS)
        assert planned.discovery.last_reason == "first sweep"
        for _ in range(3):
            tenant.clock.advance(300)
            tenant.sim.fleet.advance(300)
            # Devices enrolled and deleted land in the feed too: not an assignment change.
            tenant.sim.fleet.add_device("Mac")
            tenant.sim.requests.clear()
            outcome = await planned.sweep(NEEDS)
            assert outcome.ok
            assert discoveries(tenant) == (0, 0)
            assert tenant.requests(AUDIT_EVENTS) == 1
        assert planned.discovery.discoveries == 1


async def test_an_assignment_change_triggers_exactly_one_rediscovery(
    start_tenant: StartTenant,
) -> None:
    tenant = await start_tenant(devices=300, seed=3)
    fleet = tenant.sim.fleet
    per_device, planned = await both(tenant)
    try:
        await planned.sweep(NEEDS)
        tenant.clock.advance(60)
        bp = max(fleet.blueprints, key=lambda b: len(fleet.blueprint_members(b)))
        item = next(it for it in fleet.items if it.index not in bp.item_indices)
        fleet.assign_library_item(bp.id, item.id)
        member = fleet.device_id(fleet.blueprint_members(bp)[0])
        fleet.set_item_status(member, item.id, "failed" if item.is_profile else "ERROR")
        tenant.sim.requests.clear()
        changed = await planned.sweep(NEEDS)
        assert discoveries(tenant) == (1, len(fleet.blueprints))
        assert planned.discovery.last_reason.startswith("the audit feed shows")
        assert tenant.requests(DEVICE_STATUS) >= 1, "the changed blueprint's groups probed again"
        new_failure = {
            f.fingerprint
            for f in evaluate(SHIPPED, changed.facts(), tenant.clock.now())
            if (f.device_id, f.subject_id) == (member, item.id)
        }
        assert len(new_failure) == 1, "the newly assigned item is read, its failure found"
        assert findings_of(changed, tenant) == findings_of(await per_device.sweep(NEEDS), tenant)
        for _ in range(2):
            tenant.clock.advance(60)
            tenant.sim.requests.clear()
            await planned.sweep(NEEDS)
            assert discoveries(tenant) == (0, 0)
        assert planned.discovery.discoveries == 2
    finally:
        await per_device.close()
        await planned.close()


async def test_an_edited_library_item_is_rediscovered_too(start_tenant: StartTenant) -> None:
    tenant = await start_tenant(devices=200, seed=4)
    async with planned_sweeper(tenant) as planned:
        await planned.sweep(NEEDS)
        tenant.clock.advance(60)
        tenant.sim.fleet.edit_library_item(tenant.sim.fleet.items[0].id, name="Renamed")
        tenant.sim.requests.clear()
        await planned.sweep(NEEDS)
        assert discoveries(tenant) == (1, len(tenant.sim.fleet.blueprints))


async def test_blueprints_are_listed_again_at_the_safety_cadence(
    start_tenant: StartTenant,
) -> None:
    tenant = await start_tenant(devices=200, seed=5)
    async with planned_sweeper(tenant, rediscover_every=3600) as planned:
        await planned.sweep(NEEDS)
        tenant.clock.advance(3599)
        tenant.sim.requests.clear()
        await planned.sweep(NEEDS)
        assert discoveries(tenant) == (0, 0)
        tenant.clock.advance(1)
        tenant.sim.requests.clear()
        await planned.sweep(NEEDS)
        assert discoveries(tenant)[0] == 1
        assert planned.discovery.last_reason == "safety cadence"


async def test_without_the_feed_blueprints_are_listed_every_sweep(
    start_tenant: StartTenant,
) -> None:
    tenant = await start_tenant(devices=200, seed=6)
    tenant.sim.denied_routes.add(AUDIT_EVENTS)
    per_device, planned = await both(tenant)
    try:
        for _ in range(2):
            tenant.sim.requests.clear()
            outcome = await planned.sweep(NEEDS)
            assert outcome.ok, "a feed the token may not read is no failure of the sweep"
            assert discoveries(tenant)[0] == 1
            assert findings_of(outcome, tenant) == findings_of(
                await per_device.sweep(NEEDS), tenant
            )
        # The permission is granted: from then on the feed decides.
        tenant.sim.denied_routes.clear()
        await planned.sweep(NEEDS)
        tenant.sim.requests.clear()
        await planned.sweep(NEEDS)
        assert discoveries(tenant) == (0, 0)
    finally:
        await per_device.close()
        await planned.close()


async def test_an_incomplete_discovery_is_made_again_next_sweep(
    start_tenant: StartTenant,
) -> None:
    tenant = await start_tenant(devices=200, seed=7)
    bp = tenant.sim.fleet.blueprints[0]
    tenant.sim.add_fault(f"/blueprints/{bp.id}/list-library-items", "500")
    async with planned_sweeper(tenant) as planned:
        assert not (await planned.sweep(NEEDS)).ok
        tenant.sim.faults.clear()
        tenant.sim.requests.clear()
        assert (await planned.sweep(NEEDS)).ok
        assert discoveries(tenant)[0] == 1
        assert planned.discovery.last_reason == "the last discovery was incomplete"
