"""Details fields Prism serves are read through Prism, changed rows only, with no
``/details`` read; fields it does not serve still come from ``/details``."""

from __future__ import annotations

import dataclasses

from monitor.engine import RuleSet, evaluate
from monitor.models import FactKind, SourceKind
from monitor.sources.kandji.api import DEVICE_DETAILS
from monitor.sources.kandji.feeds import PRISM
from monitor.sources.kandji.fields import DETAILS_FIELDS
from monitor.sources.kandji.per_device import KandjiPerDeviceSweeper
from monitor.sources.kandji.prism_facts import prism_fields_for
from tests.sources.kandji.tenant import (
    SHIPPED,
    StartTenant,
    Tenant,
    findings_of,
    observed_ids,
    planned_sweeper,
)

KANDJI = SourceKind("kandji")
DETAILS = [f.name for f in DETAILS_FIELDS]


def with_rules(*enabled: str, remedy: str | None = None) -> RuleSet:
    """The shipped rules with ``enabled`` switched on (and their remedy text replaced)."""
    rules = []
    for rule in SHIPPED.rules:
        if rule.id in enabled:
            rule = dataclasses.replace(rule, enabled=True, remedy=remedy or rule.remedy)
        rules.append(rule)
    return RuleSet(rules)


FILEVAULT = with_rules("kandji.device.filevault-off")
LAST_USER = "Last user: {{ device.last_user }}"  # a details field Prism does not serve


def filevault_findings(rules: RuleSet, outcome: object, tenant: Tenant) -> set[str]:
    facts = outcome.facts()  # type: ignore[attr-defined]
    return {
        f.device_id
        for f in evaluate(rules, facts, tenant.clock.now())
        if f.rule_id == "kandji.device.filevault-off"
    }


def test_prism_is_chosen_only_when_it_serves_every_details_field_the_rules_read() -> None:
    assert prism_fields_for(SHIPPED, KANDJI, DETAILS) is None, "no details field read"
    assert prism_fields_for(FILEVAULT, KANDJI, DETAILS) == frozenset({"filevault.enabled"})
    lock = with_rules("kandji.device.filevault-off", "kandji.device.macos-below-minimum")
    assert prism_fields_for(lock, KANDJI, DETAILS) == frozenset({"filevault.enabled"})
    # A rule text naming a details field Prism does not serve needs /details.
    base = FILEVAULT.rule("kandji.device.filevault-off")
    texted = with_rules("kandji.device.filevault-off", remedy=LAST_USER)
    assert texted.rule("kandji.device.filevault-off").remedy != base.remedy
    assert prism_fields_for(texted, KANDJI, DETAILS) is None


async def test_a_prism_served_field_alerts_without_reading_details(
    start_tenant: StartTenant,
) -> None:
    tenant = await start_tenant(devices=450, seed=21, filevault_off_rate=0.05)
    fleet = tenant.sim.fleet
    needs = FILEVAULT.needs(KANDJI)
    assert FactKind.DETAILS in needs
    fields = prism_fields_for(FILEVAULT, KANDJI, DETAILS)
    reference = KandjiPerDeviceSweeper(tenant.client(), "acme")
    async with planned_sweeper(tenant, FILEVAULT, prism_fields=fields) as planned:
        first = await planned.sweep(needs)
        assert first.ok
        assert tenant.requests(DEVICE_DETAILS) == 0
        macs = sum(1 for i in fleet.device_indices() if fleet.platform_of(i) == "Mac")
        assert tenant.requests(PRISM) == -(-macs // 300), "the whole FileVault table, once"
        off = filevault_findings(FILEVAULT, first, tenant)
        assert off, "Macs with FileVault off are found"
        assert observed_ids(first, FactKind.DETAILS) == set(first.coverage.devices)
        assert findings_of(first, tenant, FILEVAULT) == findings_of(
            await reference.sweep(needs), tenant, FILEVAULT
        )
        # One Mac turns FileVault off: the next sweep reads only the rows that changed.
        tenant.clock.advance(120)
        mac = next(
            fleet.device_id(i)
            for i in fleet.device_indices()
            if fleet.platform_of(i) == "Mac" and fleet.device_id(i) not in off
        )
        fleet.set_filevault(mac, False)
        tenant.sim.requests.clear()
        second = await planned.sweep(needs)
        assert tenant.requests(DEVICE_DETAILS) == 0
        assert tenant.requests(PRISM) == 1
        assert filevault_findings(FILEVAULT, second, tenant) == off | {mac}
        assert findings_of(second, tenant, FILEVAULT) == findings_of(
            await reference.sweep(needs), tenant, FILEVAULT
        )
    await reference.close()


async def test_a_field_prism_does_not_serve_is_read_from_details(
    start_tenant: StartTenant,
) -> None:
    tenant = await start_tenant(devices=100, seed=22)
    rules = with_rules("kandji.device.filevault-off", remedy=LAST_USER)
    needs = rules.needs(KANDJI)
    fields = prism_fields_for(rules, KANDJI, DETAILS)
    async with planned_sweeper(tenant, rules, prism_fields=fields) as planned:
        await planned.sweep(needs)
        assert tenant.requests(PRISM) == 0
        assert tenant.requests(DEVICE_DETAILS) == 100


async def test_a_failed_prism_read_holds_the_details_of_the_devices_it_covers(
    start_tenant: StartTenant,
) -> None:
    tenant = await start_tenant(devices=300, seed=23)
    needs = FILEVAULT.needs(KANDJI)
    fields = prism_fields_for(FILEVAULT, KANDJI, DETAILS)
    async with planned_sweeper(tenant, FILEVAULT, prism_fields=fields) as planned:
        assert (await planned.sweep(needs)).ok
        tenant.sim.add_fault("/prism/filevault", "500")
        tenant.clock.advance(60)
        outcome = await planned.sweep(needs)
        assert not outcome.ok
        assert any("prism filevault" in e for e in outcome.errors)
        assert observed_ids(outcome, FactKind.DETAILS) == set()
        assert tenant.requests(DEVICE_DETAILS) == 0, "no per-device fallback"
        tenant.sim.faults.clear()
        tenant.clock.advance(60)
        again = await planned.sweep(needs)
        assert again.ok
        assert observed_ids(again, FactKind.DETAILS) == set(again.coverage.devices)
