"""The fleet model: determinism, status vocabularies, evolution, hooks and compactness."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.simulator.kandji import (
    ITEM_STATUSES,
    PARAMETER_STATUSES,
    PROFILE_STATUSES,
    FieldError,
    Fleet,
    FleetSpec,
    bodies,
)
from monitor.simulator.kandji.catalog import MAC


def build(seed: int = 7, devices: int = 400, clock: FakeClock | None = None, **knobs: Any) -> Fleet:
    spec = FleetSpec(devices=devices, seed=seed, **knobs)
    return Fleet(spec, clock=clock or FakeClock())


def snapshot(fleet: Fleet) -> list[object]:
    out: list[object] = []
    for i in fleet.device_indices():
        device = fleet.device(i)
        out.append(bodies.device_record(device))
        out.append([(s.item.id, s.status, s.reported_at) for s in fleet.device_items(i)])
        out.append([(p.parameter.id, p.status) for p in fleet.device_parameters(i)])
    return out


def first_device(fleet: Fleet, platform: str) -> str:
    return next(
        fleet.device_id(i) for i in fleet.device_indices() if fleet.platform_of(i) == platform
    )


def test_same_seed_builds_the_same_fleet_and_another_seed_does_not() -> None:
    assert snapshot(build(seed=7)) == snapshot(build(seed=7))
    assert snapshot(build(seed=7)) != snapshot(build(seed=8))


def test_device_ids_resolve_back_to_their_device_and_strangers_do_not() -> None:
    fleet = build(devices=1000)
    for i in fleet.device_indices():
        assert fleet.device_index(fleet.device_id(i)) == i
    ids = {fleet.device_id(i) for i in fleet.device_indices()}
    assert len(ids) == 1000
    other = build(seed=99, devices=1000)
    assert fleet.device_index(other.device_id(5)) is None
    assert fleet.device_index("not-a-uuid") is None
    assert fleet.device_index("00000000-0000-4000-8000-000000000000") is None


def test_initial_fleet_mixes_platforms_and_every_common_status() -> None:
    fleet = build(devices=3000)
    platforms = Counter(fleet.platform_of(i) for i in fleet.device_indices())
    assert set(platforms) == {"Mac", "iPhone", "iPad", "AppleTV"}
    assert platforms["Mac"] > platforms["iPhone"] > platforms["AppleTV"]
    statuses: Counter[str] = Counter()
    param_statuses: Counter[str] = Counter()
    for i in fleet.device_indices():
        statuses.update(s.status for s in fleet.device_items(i))
        params = fleet.device_parameters(i)
        param_statuses.update(p.status for p in params)
        if fleet.platform_of(i) != "Mac":
            assert params == []
    assert statuses.most_common(1)[0][0] == "PASS"
    for wanted in (
        "ERROR",
        "INCOMPATIBLE",
        "PENDING",
        "EXCLUDED",
        "AVAILABLE",
        "success",
        "failed",
        "pending",
    ):
        assert statuses[wanted] > 0, wanted
    for wanted in ("PASS", "ERROR", "REMEDIATED", "INCOMPATIBLE", "PENDING"):
        assert param_statuses[wanted] > 0, wanted
    assert set(statuses) <= set(ITEM_STATUSES)
    assert set(param_statuses) <= set(PARAMETER_STATUSES)


def test_profiles_report_lower_case_and_other_items_upper_case() -> None:
    fleet = build()
    mac = first_device(fleet, "Mac")
    for state in fleet.device_items(fleet.require(mac)):
        assert (state.status in PROFILE_STATUSES) == state.item.is_profile
    profile = next(s.item for s in fleet.device_items(fleet.require(mac)) if s.item.is_profile)
    script = next(s.item for s in fleet.device_items(fleet.require(mac)) if not s.item.is_profile)
    with pytest.raises(ValueError, match="profile"):
        fleet.set_item_status(mac, profile.id, "ERROR")
    with pytest.raises(ValueError, match="items take one of"):
        fleet.set_item_status(mac, script.id, "failed")
    fleet.set_item_status(mac, profile.id, "failed")
    fleet.set_item_status(mac, script.id, "ERROR")
    assert fleet.item_status(mac, profile.id) == "failed"
    assert fleet.item_status(mac, script.id) == "ERROR"


def test_advance_makes_items_fail_and_recover_the_same_way_for_the_same_seed() -> None:
    clocks = FakeClock(), FakeClock()
    fleets = [build(devices=800, clock=c) for c in clocks]
    changes = []
    for fleet, clock in zip(fleets, clocks, strict=True):
        clock.advance(timedelta(hours=4))
        changes.append(fleet.advance(4 * 3600))
    assert changes[0] == changes[1]
    kinds = {(c.kind, c.old, c.new) for c in changes[0]}
    assert ("library_item", "PASS", "ERROR") in kinds
    assert ("library_item", "ERROR", "PASS") in kinds
    assert any(c.kind == "parameter" for c in changes[0])
    fleet = fleets[0]
    last = {(c.device_id, c.subject_id): c.new for c in changes[0] if c.kind == "library_item"}
    for (device_id, item_id), new in last.items():
        assert fleet.item_status(device_id, item_id) == new


def test_scheduled_repair_applies_once_the_clock_reaches_it() -> None:
    clock = FakeClock()
    fleet = build(clock=clock)
    plan = fleet.plant_demo_failures(devices=3, repair_after=120)
    assert plan is not None
    assert len(plan.device_ids) == 3
    for device_id in plan.device_ids:
        assert fleet.item_status(device_id, plan.item_id) == "ERROR"
    clock.advance(119)
    assert fleet.apply_due() == []
    clock.advance(1)
    repaired = fleet.apply_due()
    assert {c.device_id for c in repaired} == set(plan.device_ids)
    for device_id in plan.device_ids:
        assert fleet.item_status(device_id, plan.item_id) == "PASS"


def test_devices_check_in_on_schedule_until_they_go_silent() -> None:
    clock = FakeClock()
    fleet = build(clock=clock)
    mac = first_device(fleet, "Mac")
    index = fleet.require(mac)
    fleet.check_in(mac)
    first = fleet.device(index).last_check_in
    assert first == clock.now()
    clock.advance(timedelta(hours=2))
    moved = fleet.device(index).last_check_in
    assert moved is not None
    assert clock.now() - timedelta(minutes=15) < moved <= clock.now()
    fleet.go_silent(mac, since=clock.now() - timedelta(days=9))
    clock.advance(timedelta(days=1))
    silent = fleet.device(index)
    assert silent.last_check_in == clock.now() - timedelta(days=10)
    fleet.check_in(mac)
    assert fleet.device(index).last_check_in == clock.now()
    fleet.go_silent(mac, since=clock.now() - timedelta(days=31))
    assert fleet.device(index).is_missing


def test_update_replaces_tags_and_a_blueprint_move_starts_new_items_pending() -> None:
    fleet = build()
    mac = first_device(fleet, "Mac")
    index = fleet.require(mac)
    fleet.update_device(mac, tags=["a", "b"])
    assert fleet.device(index).tags == ("a", "b")
    fleet.update_device(mac, tags=["c"])
    assert fleet.device(index).tags == ("c",)
    fleet.update_device(mac, tags=[])
    assert fleet.device(index).tags == ()
    current = fleet.blueprint_of(index)
    target = next(bp for bp in fleet.blueprints if bp is not current and MAC in bp.platforms)
    new_items = set(target.item_indices) - set(current.item_indices)
    fleet.update_device(mac, blueprint_id=target.id)
    assert fleet.blueprint_of(index) is target
    assert index in fleet.blueprint_members(target)
    assert index not in fleet.blueprint_members(current)
    for state in fleet.device_items(index):
        if state.item.index in new_items:
            assert state.status in ("PENDING", "pending")
    with pytest.raises(FieldError) as err:
        fleet.update_device(mac, blueprint_id="nope")
    assert err.value.field == "blueprint_id"


def test_added_devices_start_pending_and_removed_devices_vanish() -> None:
    clock = FakeClock()
    fleet = build(clock=clock)
    before = fleet.device_count
    new = fleet.add_device("iPad")
    index = fleet.require(new)
    assert fleet.device_count == before + 1
    device = fleet.device(index)
    assert device.platform == "iPad"
    assert device.first_enrollment == clock.now()
    assert {s.status for s in fleet.device_items(index)} <= {"PENDING", "pending"}
    fleet.remove_device(new)
    assert fleet.device_index(new) is None
    assert fleet.device_count == before
    assert index not in fleet.device_indices()


def test_a_hundred_thousand_devices_with_sixty_items_stay_compact() -> None:
    fleet = Fleet(
        FleetSpec(devices=100_000, library_items=60, items_per_blueprint=60), clock=FakeClock()
    )
    tables = fleet.status_tables
    assert len(tables) == 60
    assert all(type(t) is bytearray and len(t) == 100_000 for t in tables)
    # One byte per (item, device) plus a few array slots per device: well under 16 MB.
    assert fleet.storage_bytes() < 16_000_000
    assert fleet.sparse_state_size == 0
    scope = fleet.item_scope(fleet.items[3])
    assert 0 < len(scope) < 100_000
    assert fleet.device(99_999).id == fleet.device_id(99_999)


def test_silent_devices_keep_their_last_reported_state_while_the_fleet_churns() -> None:
    clock = FakeClock()
    # No device comes back on its own in this test.
    fleet = build(devices=300, clock=clock, return_per_hour=0.0)
    macs = [i for i in fleet.device_indices() if fleet.platform_of(i) == "Mac"][:40]
    for i in macs:
        fleet.go_silent(fleet.device_id(i))
    before = {i: [s.status for s in fleet.device_items(i)] for i in macs}
    clock.advance(timedelta(hours=12))
    changes = fleet.advance(12 * 3600)
    assert changes
    silent_ids = {fleet.device_id(i) for i in macs}
    assert not [c for c in changes if c.device_id in silent_ids]
    assert {i: [s.status for s in fleet.device_items(i)] for i in macs} == before


def test_devices_that_never_checked_in_have_everything_pending() -> None:
    fleet = build(devices=3000)
    never = [i for i in fleet.device_indices() if fleet.device(i).last_check_in is None]
    assert never
    for i in never:
        assert {s.status for s in fleet.device_items(i)} <= {"PENDING", "pending"}
        assert all(s.reported_at is None for s in fleet.device_items(i))
        assert {p.status for p in fleet.device_parameters(i)} <= {"PENDING"}


def test_the_share_of_failing_items_stays_near_its_starting_rate_over_a_day() -> None:
    clock = FakeClock()
    fleet = build(devices=2000, clock=clock)

    def failing_share() -> float:
        states = [s for i in fleet.device_indices() for s in fleet.device_items(i)]
        return sum(s.status in ("ERROR", "failed") for s in states) / len(states)

    start = failing_share()
    for _ in range(24):
        clock.advance(timedelta(hours=1))
        fleet.advance(3600)
    assert 0.5 * start < failing_share() < 1.5 * start
