"""The planner's decisions, as pure functions of the fleet and what earlier sweeps saw."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from monitor.models import Device, FactKind, SourceKind
from monitor.sources.kandji.planner import (
    DeviceMemo,
    PlannerState,
    fresh_key,
    plan_probes,
    plan_sweep,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ITEMS_AND_PARAMS = frozenset({FactKind.DEVICE, FactKind.LIBRARY_ITEMS, FactKind.PARAMETERS})


def device(
    n: int,
    platform: str = "Mac",
    blueprint: str = "bp-a",
    check_in: datetime | None = T0,
    lost: str = "",
) -> Device:
    return Device(
        source="acme",
        source_kind=SourceKind("kandji"),
        device_id=f"dev-{n}",
        name=f"Device {n}",
        platform=platform,
        blueprint_id=blueprint,
        last_check_in=check_in,
        attrs={"lost_mode_status": lost},
    )


def fleet(macs: int = 600, phones: int = 300) -> list[Device]:
    return [device(i) for i in range(macs)] + [
        device(macs + i, "iPhone", "bp-b") for i in range(phones)
    ]


def known_state(devices: list[Device]) -> PlannerState:
    """A state whose groups are known and every Mac's parameters were read."""
    state = PlannerState()
    state.groups[("bp-a", "Mac")] = frozenset({"i1", "i2"})
    state.groups[("bp-b", "iPhone")] = frozenset({"i2", "i3"})
    for d in devices:
        state.devices[d.device_id] = DeviceMemo(parameters_key=fresh_key(d), read_sweep=0)
    return state


BLUEPRINT_ITEMS = {"bp-a": ("i1", "i2"), "bp-b": ("i2", "i3")}
LISTED = frozenset(BLUEPRINT_ITEMS)


def plan(state: PlannerState, devices: list[Device], **options: object):  # type: ignore[no-untyped-def]
    knobs: dict[str, object] = {
        "blueprint_items": BLUEPRINT_ITEMS,
        "listed_blueprints": LISTED,
        "item_names": {"i1": "One", "i2": "Two", "i3": "Three"},
    }
    knobs.update(options)
    return plan_sweep(state, devices, ITEMS_AND_PARAMS, **knobs)  # type: ignore[arg-type]


def test_each_item_is_read_in_as_many_pages_as_its_devices_fill() -> None:
    devices = fleet()
    result = plan(known_state(devices), devices)
    pages = {r.item_id: (r.expected_rows, r.pages) for r in result.items}
    assert pages == {"i1": (600, 2), "i2": (900, 3), "i3": (300, 1)}
    assert result.parameter_reads == ()
    assert result.requests == 6


def test_only_macs_that_checked_in_since_their_read_are_read_again() -> None:
    devices = fleet()
    state = known_state(devices)
    later = [
        dataclasses.replace(d, last_check_in=T0 + timedelta(minutes=5)) if i % 3 == 0 else d
        for i, d in enumerate(devices)
    ]
    result = plan(state, later)
    moved = {d.device_id for d in later[:600] if d.last_check_in != T0}
    assert set(result.parameter_reads) == moved
    # iPhones have no parameters: never read for them, whatever their check-ins.
    assert not any(int(did.split("-")[1]) >= 600 for did in result.parameter_reads)


@pytest.mark.parametrize(
    ("change", "read_again"),
    [
        ({"check_in": T0}, False),
        ({"check_in": T0 + timedelta(seconds=1)}, True),
        ({"check_in": None}, True),
        ({"blueprint": "bp-c"}, True),
    ],
)
def test_what_makes_a_mac_read_again(change: dict[str, object], read_again: bool) -> None:
    before = device(1)
    state = PlannerState()
    state.devices[before.device_id] = DeviceMemo(parameters_key=fresh_key(before))
    after = device(1, **change)  # type: ignore[arg-type]
    result = plan_sweep(
        state, [after], frozenset({FactKind.PARAMETERS}), blueprint_items=None, item_names={}
    )
    assert (result.parameter_reads == (after.device_id,)) is read_again


def test_a_new_blueprint_parameter_set_makes_its_macs_read_again() -> None:
    mac = device(1)
    state = PlannerState()
    state.devices[mac.device_id] = DeviceMemo(parameters_key=fresh_key(mac, 11))
    same = plan_sweep(
        state,
        [mac],
        frozenset({FactKind.PARAMETERS}),
        blueprint_items=None,
        item_names={},
        blueprint_signatures={"bp-a": 11},
    )
    changed = plan_sweep(
        state,
        [mac],
        frozenset({FactKind.PARAMETERS}),
        blueprint_items=None,
        item_names={},
        blueprint_signatures={"bp-a": 12},
    )
    assert same.parameter_reads == ()
    assert changed.parameter_reads == (mac.device_id,)


def test_devices_of_an_unlisted_blueprint_are_read_through_status() -> None:
    devices = [*fleet(), device(999, blueprint="bp-hidden")]
    result = plan(known_state(devices), devices)
    assert result.status_reads == ("dev-999",)
    assert result.parameter_reads == (), "its /status carries its parameters"


def test_devices_of_a_blueprint_whose_list_failed_are_not_read_per_device() -> None:
    devices = fleet()
    result = plan(known_state(devices), devices, blueprint_items={"bp-a": ("i1", "i2")})
    assert result.status_reads == ()
    assert {r.item_id for r in result.items} == {"i1", "i2"}


def test_a_short_budget_defers_the_longest_read_devices_last() -> None:
    devices = [device(i, check_in=None) for i in range(10)]
    state = PlannerState()
    for i, d in enumerate(devices):
        # dev-0..4 were read in sweep 3, dev-5..9 in sweep 1: those wait longest.
        state.devices[d.device_id] = DeviceMemo(parameters_key=0, read_sweep=3 if i < 5 else 1)
    result = plan_sweep(
        state,
        devices,
        frozenset({FactKind.PARAMETERS}),
        blueprint_items=None,
        item_names={},
        per_device_allowance=4,
    )
    assert result.parameter_reads == ("dev-5", "dev-6", "dev-7", "dev-8")
    assert set(result.deferred) == {"dev-0", "dev-1", "dev-2", "dev-3", "dev-4", "dev-9"}


def test_lost_mode_is_read_for_phones_the_list_shows_lost_every_sweep() -> None:
    devices = [
        device(1, "iPhone", lost="ENABLED"),
        device(2, "iPhone"),
        device(3, "Mac", lost="ENABLED"),
        device(4, "iPad", lost="ENABLED"),
    ]
    needs = frozenset({FactKind.LOST_MODE})
    result = plan_sweep(PlannerState(), devices, needs, blueprint_items=None, item_names={})
    assert result.lost_mode_reads == ("dev-1", "dev-4")


def test_a_small_fleet_reads_items_per_device_when_cheaper() -> None:
    # Three items, one page each, cost more than two /status reads.
    devices = fleet(macs=1, phones=1)
    result = plan(known_state(devices), devices)
    assert result.items_per_device
    assert result.items == ()
    assert result.status_reads == ("dev-0", "dev-1")
    assert result.bulk_item_pages == 3
    bigger = fleet(macs=3, phones=2)
    assert not plan(known_state(bigger), bigger).items_per_device


def test_probes_pick_one_device_per_unknown_group() -> None:
    devices = [*fleet(macs=5, phones=5), device(50, "iPad", "bp-b"), device(51, "Mac", "bp-e")]
    state = PlannerState()
    state.groups[("bp-a", "Mac")] = frozenset({"i1"})
    probes = plan_probes(state, devices, {**BLUEPRINT_ITEMS, "bp-e": ()})
    assert [d.device_id for d in probes] == ["dev-5", "dev-50"]
    assert state.groups[("bp-e", "Mac")] == frozenset(), "an empty blueprint needs no probe"


def test_a_changed_item_list_forgets_the_groups_of_that_blueprint() -> None:
    state = PlannerState()
    state.observe_blueprints(BLUEPRINT_ITEMS)
    state.learn_group(("bp-a", "Mac"), [("i1", "profile"), ("i2", "custom-script")])
    state.learn_group(("bp-b", "iPhone"), [("i2", "custom-script")])
    state.observe_blueprints({"bp-a": ("i1", "i2", "i9"), "bp-b": ("i2", "i3")})
    assert ("bp-a", "Mac") not in state.groups
    assert ("bp-b", "iPhone") in state.groups
    assert state.item_types["i1"] == "profile"


@pytest.mark.parametrize("every", [1, 2, 3])
def test_a_healthy_item_is_read_at_least_once_in_every_sweeps(every: int) -> None:
    devices = fleet()
    state = known_state(devices)
    state.unhealthy_items.add("i1")
    reads: dict[str, list[int]] = {"i1": [], "i2": [], "i3": []}
    for sweep in range(9):
        state.sweeps = sweep
        result = plan(state, devices, healthy_item_every=every)
        for r in result.items:
            reads[r.item_id].append(sweep)
            state.item_last_read[r.item_id] = sweep
    assert reads["i1"] == list(range(9)), "an item with failures is read every sweep"
    for item in ("i2", "i3"):
        gaps = [b - a for a, b in zip(reads[item], reads[item][1:], strict=False)]
        assert reads[item][0] == 0
        assert max(gaps) == every


# --------------------------------------------------------------------------- allowance


def test_items_past_the_allowance_are_deferred_oldest_first_next_time() -> None:
    devices = fleet()  # i1: 2 pages, i2: 3 pages, i3: 1 page
    state = known_state(devices)
    state.item_last_read.update({"i1": 0, "i2": 0, "i3": 0})
    first = plan(state, devices, allowance=3)
    assert [r.item_id for r in first.items] == ["i1", "i3"]
    assert first.deferred_items == ("i2",)
    for r in first.items:
        state.item_last_read[r.item_id] = 1
    second = plan(state, devices, allowance=3)
    assert [r.item_id for r in second.items] == ["i2"], "the oldest goes first, even if big"


def test_the_first_sweep_reads_every_item_whatever_the_allowance() -> None:
    devices = fleet()
    result = plan(known_state(devices), devices, allowance=2, pace_items=False)
    assert {r.item_id for r in result.items} == {"i1", "i2", "i3"}
    assert result.deferred_items == ()


def test_per_device_reads_keep_their_share_and_take_what_items_leave() -> None:
    devices = fleet()
    state = known_state(devices)
    state.item_last_read.update({"i1": 0, "i2": 0, "i3": 0})
    moved = [dataclasses.replace(d, last_check_in=T0 + timedelta(minutes=1)) for d in devices]
    # 20 to spend, 25% for per-device reads: items may take 15 and need only 6.
    roomy = plan(state, moved, allowance=20, per_device_share=0.25)
    assert roomy.item_pages == 6
    assert len(roomy.parameter_reads) == 14, "the items' leftover goes to parameters"
    # 8 to spend: items may take 6 and get them all, parameters keep their 2.
    tight = plan(state, moved, allowance=8, per_device_share=0.25)
    assert tight.item_pages == 6
    assert len(tight.parameter_reads) == 2
    # 6 to spend: parameters still get their share; an item waits for the next sweep.
    short = plan(state, moved, allowance=6, per_device_share=0.25)
    assert len(short.parameter_reads) == 1
    assert short.item_pages <= 5
    assert short.deferred_items


def test_a_mac_that_checked_in_is_read_again_only_once_its_parameters_are_old() -> None:
    mac = device(1)
    state = PlannerState()
    state.devices[mac.device_id] = DeviceMemo(parameters_key=fresh_key(mac), parameters_at=100.0)
    moved = device(1, check_in=T0 + timedelta(minutes=15))

    def reads(now: float) -> tuple[str, ...]:
        return plan_sweep(
            state,
            [moved],
            frozenset({FactKind.PARAMETERS}),
            blueprint_items=None,
            item_names={},
            now=now,
            parameters_every=3600.0,
        ).parameter_reads

    assert reads(100.0 + 1800) == ()
    assert reads(100.0 + 3600) == (mac.device_id,)


def test_a_never_read_mac_is_read_whatever_the_cadence() -> None:
    mac = device(1, check_in=T0 + timedelta(minutes=30))
    result = plan_sweep(
        PlannerState(),
        [mac],
        frozenset({FactKind.PARAMETERS}),
        blueprint_items=None,
        item_names={},
        now=0.0,
        parameters_every=3600.0,
    )
    assert result.parameter_reads == (mac.device_id,)
