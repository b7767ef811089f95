"""The planned sweeper's memory kept in the store: a sweeper that starts from what an
earlier one stored (a restart, another instance taking the source over) sweeps as
cheaply as the earlier one would have, finds the same things, and survives entries
that are damaged or hostile."""

from __future__ import annotations

from pathlib import Path

from monitor.sources.base import Remembers
from monitor.sources.kandji import memo
from monitor.sources.kandji.api import BLUEPRINT_LIBRARY_ITEMS, BLUEPRINTS
from monitor.sources.kandji.planned import KandjiPlannedSweeper
from monitor.store import open_store
from tests.sources.kandji.tenant import (
    NEEDS,
    SHIPPED,
    StartTenant,
    Tenant,
    findings_of,
    rule_filter,
)
from tests.store.helpers import T0


async def test_a_sweeper_started_from_the_stored_memo_sweeps_like_a_warm_one(
    start_tenant: StartTenant, tmp_path: Path
) -> None:
    """Per-device reads still fresh are not made again after a restart; only the
    tenant's blueprints are listed once more (the new process has not read the audit
    feed yet), which costs 1 + one request per blueprint, not one per device."""
    tenant = await start_tenant(devices=200, seed=3, item_failure_rate=0.05)
    url = f"sqlite:///{tmp_path}/m.db"

    def sweeper() -> KandjiPlannedSweeper:
        return KandjiPlannedSweeper(tenant.client(), "acme", keep=rule_filter(SHIPPED))

    async def device_reads(sweeper: KandjiPlannedSweeper) -> tuple[int, bool]:
        """Requests of one sweep besides blueprint discovery; whether it went well."""
        before = tenant.sim.requests.total - discovery(tenant)
        outcome = await sweeper.sweep(NEEDS)
        return tenant.sim.requests.total - discovery(tenant) - before, outcome.ok

    first = sweeper()
    assert isinstance(first, Remembers)
    try:
        cold = await device_reads(first)
        warm = await device_reads(first)
        async with open_store(url) as store:
            await store.save_memo("acme", first.memo_changes(), T0)
            assert first.memo_changes() == {}  # nothing new since
    finally:
        await first.close()
    assert warm[0] < cold[0]

    restarted, fresh = sweeper(), sweeper()
    try:
        async with open_store(url) as store:
            restarted.restore_memo(await store.load_memo("acme"))
        resumed = await device_reads(restarted)
        resumed_outcome = await restarted.sweep(NEEDS)
        again_cold = await device_reads(fresh)
        fresh_outcome = await fresh.sweep(NEEDS)
    finally:
        await restarted.close()
        await fresh.close()
    assert resumed == (warm[0], True)
    assert again_cold == cold
    assert findings_of(resumed_outcome, tenant) == findings_of(fresh_outcome, tenant)


def discovery(tenant: Tenant) -> int:
    """Blueprint discovery requests served so far."""
    return tenant.requests(BLUEPRINTS) + tenant.requests(BLUEPRINT_LIBRARY_ITEMS)


async def test_damaged_or_hostile_entries_are_dropped_not_trusted(
    start_tenant: StartTenant,
) -> None:
    tenant = await start_tenant(devices=40, seed=5)
    planned = KandjiPlannedSweeper(tenant.client(), "acme", keep=rule_filter(SHIPPED))
    try:
        await planned.sweep(NEEDS)
        entries = memo.encode(planned.state)
    finally:
        await planned.close()
    devices = sorted(k for k in entries if k.startswith(memo.DEVICE_PREFIX))
    assert len(devices) >= 3
    entries[devices[0]] = "{not json"
    entries[devices[1]] = '{"v": 1, "pk": "1; DROP TABLE", "p": [], "dk": null, "d": null,' \
        ' "ak": null, "a": [], "r": 0}'
    entries[devices[2]] = "[" * 10_000 + "]" * 10_000  # deeply nested
    entries["d:huge"] = '"' + "x" * (memo.MAX_ENTRY_CHARS + 1) + '"'
    restored = memo.decode(entries)
    kept = {memo.DEVICE_PREFIX + d for d in restored.devices}
    assert kept == set(devices[3:])
    assert restored.groups == planned.state.groups
    assert restored.item_types == planned.state.item_types


async def test_entries_of_another_encoding_version_start_from_nothing() -> None:
    entries = {memo.STATE_KEY: '{"v": 99, "sweeps": 4}', "d:x": '{"v": 99}'}
    restored = memo.decode(entries)
    assert restored.sweeps == 0
    assert restored.devices == {}
