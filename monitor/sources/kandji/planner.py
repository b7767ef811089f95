"""Planning one sweep of a Kandji tenant: what to read, through which endpoint, at least cost.

The per-device sweep costs about one request per device and fact kind. Kandji serves
the same library-item facts fleet-wide, one item at a time, 300 devices a page
(``GET /library/library-items/{id}/status``), and lists the items each blueprint
assigns (``GET /blueprints/{id}/list-library-items``). The planner builds on that:

================  ===========================================================  ==========
facts             route                                                        cost
================  ===========================================================  ==========
device list       ``GET /devices`` (300 a page)                                N/300
item discovery    ``GET /blueprints`` + ``list-library-items`` per blueprint   1 + B
library items     per item ``/library/library-items/{id}/status``              sum of
                                                                               scope/300
item shape        ``GET /devices/{id}/status`` on one device per (blueprint,   a few, once
                  platform) group: which items those devices carry, and each
                  item's type (the fleet-wide rows do not name it)
parameters        ``GET /devices/{id}/parameters``, Macs only (the API has no  Macs that
                  fleet-wide route; other platforms have no parameters)        checked in
details, apps     ``GET /devices/{id}/details`` / ``apps`` (the simulator has  devices that
                  no Prism tables, so no bulk route is used)                   checked in
lost mode         ``GET /devices/{id}/details/lostmode`` for iPhones and       devices in
                  iPads the device list shows in Lost Mode                     Lost Mode
no blueprint      ``GET /devices/{id}/status`` for devices whose blueprint is  rare
                  not in ``GET /blueprints``
================  ===========================================================  ==========

**The check-in trick.** A device's parameters, details and apps only change when the
device reports, and reporting is checking in. So a per-device read is repeated only for
devices whose ``last_check_in`` (from the device list, read every sweep anyway) or
blueprint moved since the read; the others keep their last observed facts, which are
still fresh: nothing happened on the device since. Lost Mode is not read this way (an
administrator turns it on or off without the device checking in): it is read every
sweep, for the few devices the list shows in Lost Mode.

**Budget.** Bulk reads come first. Per-device reads are then planned within what the
tenant's budget has left (``per_device_allowance``), oldest read first; devices that do
not fit are *deferred*: their facts of that kind are not fresh this sweep, so their
alerts are held (never resolved) until a later sweep reads them.

**Failing items first; rotation of healthy ones.** By default every item is read every
sweep: it is already cheap (a few pages per item), and a failing item's recovery is
then seen in the very next sweep. ``healthy_item_every = k > 1`` lets an item whose
last read had no row any enabled rule could match (a *healthy* item) be read only one
sweep in ``k``; items with such rows (``ERROR``, ``failed``...) are still read every
sweep, so resolves are never late. The price: a new failure of a healthy item can stay
unseen for up to ``k - 1`` sweep intervals, while its devices count as observed. Keep
``k = 1`` unless the budget is tight.

Everything here is pure: no I/O, no clock. :mod:`monitor.sources.kandji.planned` runs the plan.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from monitor.models import Device, FactKind, Subject, SubjectKind
from monitor.sources.kandji.mapping import LOST_MODE_PLATFORMS

MAC = "Mac"
"""The only platform with parameters (API-NOTES §3.2, §4.7)."""


PAGE_SIZE = 300
"""Rows per page of the fleet-wide item status route (Kandji's cap)."""

Group = tuple[str, str]
"""A (blueprint id, platform) pair: its devices carry the same library items."""


class SubjectFilter(Protocol):
    """Says whether an enabled rule could match a subject with this status and type.

    A sweep keeps only the subjects it says yes to: the others cannot produce a
    finding, so dropping them leaves findings unchanged and saves memory.
    """

    def __call__(self, kind: SubjectKind, status: str, type_: str) -> bool:
        """True when some enabled rule of ``kind`` may match (status, type)."""
        ...


def keep_every_subject(kind: SubjectKind, status: str, type_: str) -> bool:
    """The filter that keeps everything (when no rule set is at hand)."""
    return True


def stable_hash(*parts: object) -> int:
    """A 63-bit digest of ``parts``' reprs, the same in every process (Python's own
    ``hash`` of a string is not, and these keys are kept in the store)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def fresh_key(device: Device, blueprint_signature: int = 0) -> int:
    """What must stay the same for a device's last per-device read to stay fresh.

    Its last check-in and its blueprint (moving a device to another blueprint changes
    its parameters at once), and the blueprint's parameter set.
    """
    return stable_hash(device.last_check_in, device.blueprint_id, blueprint_signature)


@dataclass(slots=True)
class DeviceMemo:
    """What per-device reads of one device last saw, kept while they stay fresh.

    Only the subjects the sweep's :class:`SubjectFilter` kept are stored, and
    ``*_key`` is the device's :func:`fresh_key` at the time of the read (None: never
    read). ``read_sweep`` is the sweep that last read anything of the device (-1:
    never), so the longest-waiting devices go first when the budget is short.
    """

    parameters_key: int | None = None
    parameters: tuple[Subject, ...] = ()
    details_key: int | None = None
    details: Mapping[str, Any] | None = None
    apps_key: int | None = None
    apps: tuple[Subject, ...] = ()
    read_sweep: int = -1


@dataclass
class PlannerState:
    """What the planner remembers between sweeps of one source (compact by design).

    ``groups``: per (blueprint, platform), the item ids its devices carry, learned from
    one ``/status`` read; forgotten when the blueprint's item list changes.
    ``item_types``: item id -> type (``profile``, ``custom-script``...), which never
    changes. ``unhealthy_items``: items whose last read had rows a rule could match.
    ``devices``: per device, its :class:`DeviceMemo`.
    """

    sweeps: int = 0
    groups: dict[Group, frozenset[str]] = field(default_factory=dict)
    blueprint_items: dict[str, tuple[str, ...]] = field(default_factory=dict)
    item_types: dict[str, str] = field(default_factory=dict)
    unhealthy_items: set[str] = field(default_factory=set)
    item_last_read: dict[str, int] = field(default_factory=dict)
    devices: dict[str, DeviceMemo] = field(default_factory=dict)
    items_per_device_below: int = 0
    """While the fleet has fewer devices than this, library items are read per device
    without discovery: the last discovery found the fleet-wide route dearer."""

    def observe_blueprints(self, blueprint_items: Mapping[str, Sequence[str]]) -> None:
        """Record the item lists just read; forget groups of blueprints whose list changed."""
        for bp, items in blueprint_items.items():
            listed = tuple(items)
            if self.blueprint_items.get(bp) != listed:
                self.blueprint_items[bp] = listed
                for group in [g for g in self.groups if g[0] == bp]:
                    del self.groups[group]

    def learn_group(self, group: Group, items: Iterable[tuple[str, str]]) -> None:
        """Record what one device of ``group`` carries: (item id, type) pairs."""
        ids = []
        for item_id, type_ in items:
            ids.append(item_id)
            if type_:
                self.item_types[item_id] = type_
        self.groups[group] = frozenset(ids)

    def forget_devices_except(self, listed: Iterable[str]) -> None:
        """Drop the memos of devices the list no longer returns."""
        keep = set(listed)
        for did in [d for d in self.devices if d not in keep]:
            del self.devices[did]


@dataclass(frozen=True, slots=True)
class ItemRead:
    """One library item read fleet-wide: ``pages`` requests for ``expected_rows`` rows."""

    item_id: str
    name: str
    expected_rows: int
    pages: int


@dataclass(frozen=True, slots=True)
class SweepPlan:
    """The reads one sweep will make after discovery and group probes.

    ``requests`` is what they cost when nothing fails (no retries); the sweep's
    total is ``discovery + probes + requests``.
    """

    items: tuple[ItemRead, ...] = ()
    rotated_out: tuple[str, ...] = ()
    status_reads: tuple[str, ...] = ()
    parameter_reads: tuple[str, ...] = ()
    details_reads: tuple[str, ...] = ()
    apps_reads: tuple[str, ...] = ()
    lost_mode_reads: tuple[str, ...] = ()
    deferred: tuple[str, ...] = ()
    items_per_device: bool = False
    bulk_item_pages: int = 0

    @property
    def item_pages(self) -> int:
        """Requests for the fleet-wide item reads."""
        return sum(r.pages for r in self.items)

    @property
    def per_device_requests(self) -> int:
        """Requests for the per-device reads."""
        return (
            len(self.status_reads)
            + len(self.parameter_reads)
            + len(self.details_reads)
            + len(self.apps_reads)
            + len(self.lost_mode_reads)
        )

    @property
    def requests(self) -> int:
        """Every request of the plan."""
        return self.item_pages + self.per_device_requests


def group_of(device: Device) -> Group:
    """The (blueprint, platform) group of a device."""
    return (device.blueprint_id, device.platform)


def plan_probes(
    state: PlannerState,
    devices: Iterable[Device],
    blueprint_items: Mapping[str, Sequence[str]],
) -> list[Device]:
    """One device per (blueprint, platform) group whose items are not known yet.

    Only groups of blueprints with a readable, non-empty item list are probed; a group
    whose blueprint assigns nothing carries nothing.
    """
    probes: list[Device] = []
    seen: set[Group] = set()
    for dev in devices:
        group = group_of(dev)
        if group in seen or group in state.groups:
            continue
        seen.add(group)
        items = blueprint_items.get(dev.blueprint_id)
        if items is None:
            continue
        if not items:
            state.groups[group] = frozenset()
            continue
        probes.append(dev)
    return probes


def _rotated(state: PlannerState, item_id: str, every: int) -> bool:
    """Whether a healthy item may skip this sweep (read at least one sweep in ``every``)."""
    if every <= 1 or item_id in state.unhealthy_items:
        return False
    last = state.item_last_read.get(item_id)
    return last is not None and state.sweeps - last < every


def plan_sweep(
    state: PlannerState,
    devices: Sequence[Device],
    needs: frozenset[FactKind],
    *,
    blueprint_items: Mapping[str, Sequence[str]] | None,
    listed_blueprints: frozenset[str] = frozenset(),
    item_names: Mapping[str, str],
    blueprint_signatures: Mapping[str, int] | None = None,
    per_device_allowance: int | None = None,
    healthy_item_every: int = 1,
    page_size: int = PAGE_SIZE,
    items_per_device: bool | None = None,
) -> SweepPlan:
    """Decide every read of this sweep after discovery (and after the group probes).

    ``listed_blueprints`` is every blueprint ``GET /blueprints`` returned;
    ``blueprint_items`` maps those whose item list was read to their item ids, or is
    None when library items are not needed or the blueprint list could not be read.
    A device whose blueprint is not listed has no bulk route: it is read through
    ``/status``. A device of a listed blueprint whose item list failed is not read at
    all this sweep (its library items are then not observed).
    ``per_device_allowance`` caps the deferrable per-device reads (None: no cap).

    ``items_per_device``: read library items through every device's ``/status``
    (True), fleet-wide (False), or whichever costs fewer requests this sweep (None).
    ``/status`` carries a Mac's parameters too, so on a small fleet with many items
    (40 devices, 60 items) the per-device route is the cheaper one.
    """
    signatures = blueprint_signatures or {}
    items: list[ItemRead] = []
    rotated: list[str] = []
    if FactKind.LIBRARY_ITEMS in needs and blueprint_items is not None:
        group_sizes: dict[Group, int] = {}
        for dev in devices:
            g = group_of(dev)
            group_sizes[g] = group_sizes.get(g, 0) + 1
        expected: dict[str, int] = {}
        for g, size in group_sizes.items():
            for item_id in state.groups.get(g, ()):
                expected[item_id] = expected.get(item_id, 0) + size
        ordered = dict.fromkeys(i for ids in blueprint_items.values() for i in ids)
        for item_id in ordered:
            if _rotated(state, item_id, healthy_item_every):
                rotated.append(item_id)
                continue
            rows = expected.get(item_id, 0)
            pages = max(1, math.ceil(rows / page_size))
            items.append(ItemRead(item_id, item_names.get(item_id, ""), rows, pages))

    if FactKind.LIBRARY_ITEMS not in needs:
        items_per_device = False
    elif items_per_device is None:
        stale_macs = 0
        if FactKind.PARAMETERS in needs:
            for dev in devices:
                if dev.platform == MAC:
                    memo = state.devices.get(dev.device_id)
                    key = fresh_key(dev, signatures.get(dev.blueprint_id, 0))
                    stale_macs += memo is None or memo.parameters_key != key
        bulk = sum(r.pages for r in items) + stale_macs
        items_per_device = blueprint_items is not None and len(devices) < bulk
    bulk_item_pages = sum(r.pages for r in items)
    if items_per_device:
        items, rotated = [], []

    status_reads: list[Device] = []
    lost_reads: list[str] = []
    # Per device: the kinds its reads must cover, in priority order later.
    due: list[tuple[int, int, Device, tuple[FactKind, ...]]] = []
    for position, dev in enumerate(devices):
        did = dev.device_id
        memo = state.devices.get(did)
        key = fresh_key(dev, signatures.get(dev.blueprint_id, 0))
        kinds: list[FactKind] = []
        no_bulk = items_per_device or (
            FactKind.LIBRARY_ITEMS in needs
            and blueprint_items is not None
            and dev.blueprint_id not in listed_blueprints
        )
        if no_bulk:
            kinds.append(FactKind.LIBRARY_ITEMS)
        elif (
            FactKind.PARAMETERS in needs
            and dev.platform == MAC
            and (memo is None or memo.parameters_key != key)
        ):
            kinds.append(FactKind.PARAMETERS)
        if FactKind.DETAILS in needs and (memo is None or memo.details_key != key):
            kinds.append(FactKind.DETAILS)
        if FactKind.APPS in needs and (memo is None or memo.apps_key != key):
            kinds.append(FactKind.APPS)
        if (
            FactKind.LOST_MODE in needs
            and dev.platform in LOST_MODE_PLATFORMS
            and dev.attrs.get("lost_mode_status")
        ):
            lost_reads.append(did)
        if kinds:
            waited = memo.read_sweep if memo is not None else -1
            due.append((waited, position, dev, tuple(kinds)))

    due.sort(key=lambda entry: (entry[0], entry[1]))
    budget = per_device_allowance
    parameter_reads: list[str] = []
    details_reads: list[str] = []
    apps_reads: list[str] = []
    deferred: list[str] = []
    for _, _, dev, wanted in due:
        cost = len(wanted)
        if budget is not None:
            if cost > budget:
                deferred.append(dev.device_id)
                continue
            budget -= cost
        for kind in wanted:
            if kind is FactKind.LIBRARY_ITEMS:
                status_reads.append(dev)
            elif kind is FactKind.PARAMETERS:
                parameter_reads.append(dev.device_id)
            elif kind is FactKind.DETAILS:
                details_reads.append(dev.device_id)
            elif kind is FactKind.APPS:
                apps_reads.append(dev.device_id)
    return SweepPlan(
        items=tuple(items),
        rotated_out=tuple(rotated),
        status_reads=tuple(d.device_id for d in status_reads),
        parameter_reads=tuple(parameter_reads),
        details_reads=tuple(details_reads),
        apps_reads=tuple(apps_reads),
        lost_mode_reads=tuple(lost_reads),
        deferred=tuple(deferred),
        items_per_device=bool(items_per_device),
        bulk_item_pages=bulk_item_pages,
    )


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one planned sweep predicted and what it spent, for logs and tests."""

    sweep: int
    discovery_requests: int
    probe_requests: int
    plan: SweepPlan
    requests: int
    started_at: datetime | None = None

    @property
    def predicted_requests(self) -> int:
        """Discovery, probes and the plan: what the sweep costs when nothing fails."""
        return self.discovery_requests + self.probe_requests + self.plan.requests


__all__ = [
    "LOST_MODE_PLATFORMS",
    "MAC",
    "PAGE_SIZE",
    "DeviceMemo",
    "Group",
    "ItemRead",
    "PlannerState",
    "SubjectFilter",
    "SweepPlan",
    "SweepReport",
    "fresh_key",
    "group_of",
    "keep_every_subject",
    "plan_probes",
    "plan_sweep",
]
