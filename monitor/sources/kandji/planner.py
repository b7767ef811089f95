"""Planning one sweep of a Kandji tenant: what to read, through which endpoint, at least cost.

The per-device sweep costs about one request per device and fact kind. Kandji serves
the same library-item facts fleet-wide, one item at a time, 300 devices a page
(``GET /library/library-items/{id}/status``), and lists the items each blueprint
assigns (``GET /blueprints/{id}/list-library-items``). The planner builds on that:

================  ===========================================================  ==========
facts             route                                                        cost
================  ===========================================================  ==========
device list       ``GET /devices`` (300 a page)                                N/300
item discovery    ``GET /audit/events`` from where it stopped; ``GET           1; 1 + B
                  /blueprints`` + ``list-library-items`` per blueprint only    after a
                  after an edit (:mod:`.discovery`)                            change
library items     per item ``/library/library-items/{id}/status``              sum of
                                                                               scope/300
item shape        ``GET /devices/{id}/status`` on one device per (blueprint,   a few, once
                  platform) group: which items those devices carry, and each
                  item's type (the fleet-wide rows do not name it)
parameters        ``GET /devices/{id}/parameters``, Macs only (the API has no  Macs that
                  fleet-wide route; other platforms have no parameters), at    checked in,
                  most once per ``parameters_every``                           in a share
details, apps     ``GET /devices/{id}/details`` / ``apps``                     devices that
                                                                               checked in
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

**Budget.** A sweep plans within an allowance (what the tenant's budget has left, and
for a paced sweep what its interval earns: :mod:`.pacing`). Library items come first,
the item read longest ago first; items that do not fit are deferred (their devices keep
the rows of the item's last read, for an hour at most). Per-device reads have their own
share plus what the items leave, oldest read first; devices that do not fit are
*deferred*: their facts of that kind are not fresh this sweep, so their alerts are held
(never resolved) until a later sweep reads them.

**Rotation of healthy items.** ``healthy_item_every = k > 1`` lets an item whose last
read had no row any enabled rule could match be read only one sweep in ``k`` (items
with such rows are read every sweep, so resolves are never late); a new failure of it
can then stay unseen for up to ``k - 1`` intervals. Keep ``k = 1`` unless the budget
is tight: the allowance already defers what does not fit.

Everything here is pure: no I/O, no clock. :mod:`monitor.sources.kandji.planned` runs the plan.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from monitor.models import Device, FactKind, Subject, SubjectKind
from monitor.sources.kandji.mapping import LOST_MODE_PLATFORMS
from monitor.sources.kandji.pacing import fit, item_news, item_order

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
    never), so the longest-waiting devices go first when the budget is short;
    ``parameters_at`` when (POSIX seconds) its parameters were last read.
    """

    parameters_key: int | None = None
    parameters: tuple[Subject, ...] = ()
    parameters_at: float = -math.inf
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
    ``item_last_read``, ``item_read_at`` and ``item_rows``: per item, the sweep and the
    moment of its last complete read and the rows of it that were kept (what a sweep
    that defers the item carries). ``devices``: per device, its :class:`DeviceMemo`.
    """

    sweeps: int = 0
    groups: dict[Group, frozenset[str]] = field(default_factory=dict)
    blueprint_items: dict[str, tuple[str, ...]] = field(default_factory=dict)
    item_types: dict[str, str] = field(default_factory=dict)
    unhealthy_items: set[str] = field(default_factory=set)
    item_last_read: dict[str, int] = field(default_factory=dict)
    item_read_at: dict[str, datetime] = field(default_factory=dict)
    item_rows: dict[str, tuple[tuple[str, Subject], ...]] = field(default_factory=dict)
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

    def forget_items_except(self, assigned: Iterable[str]) -> None:
        """Drop what was kept of items no blueprint assigns any more."""
        keep = set(assigned)
        for table in (self.item_last_read, self.item_read_at, self.item_rows):
            for item_id in [i for i in table if i not in keep]:
                del table[item_id]

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
    total is ``discovery + probes + requests``. ``rotated_out`` are healthy items
    skipped by rotation, ``deferred_items`` items the allowance left for a later sweep,
    ``deferred`` devices whose per-device reads it left.
    """

    items: tuple[ItemRead, ...] = ()
    rotated_out: tuple[str, ...] = ()
    deferred_items: tuple[str, ...] = ()
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
    allowance: int | None = None,
    per_device_share: float = 0.0,
    pace_items: bool = True,
    per_device_allowance: int | None = None,
    healthy_item_every: int = 1,
    page_size: int = PAGE_SIZE,
    items_per_device: bool | None = None,
    now: float = 0.0,
    parameters_every: float = 0.0,
    details_elsewhere: Callable[[Device], bool] | None = None,
) -> SweepPlan:
    """Decide every read of this sweep after discovery (and after the group probes).

    ``listed_blueprints`` is every blueprint ``GET /blueprints`` returned;
    ``blueprint_items`` maps those whose item list was read to their item ids, or is
    None when library items are not needed or the blueprint list could not be read.
    A device whose blueprint is not listed has no bulk route: it is read through
    ``/status``. A device of a listed blueprint whose item list failed is not read at
    all this sweep (its library items are then not observed).

    ``allowance`` caps the whole plan (None: no cap; see :mod:`.pacing`): Lost Mode
    reads first, then the library items (``pace_items``; when False they are all read
    whatever the allowance, as on a first sweep, when nothing is known yet) within the
    allowance less ``per_device_share`` of it, then the per-device reads within what is
    left. ``per_device_allowance`` caps the per-device reads further (None: no cap).

    ``items_per_device``: read library items through every device's ``/status``
    (True), fleet-wide (False), or whichever costs fewer requests this sweep (None).
    ``/status`` carries a Mac's parameters too, so on a small fleet with many items
    (40 devices, 60 items) the per-device route is the cheaper one.

    A Mac's parameters are read again when it checked in since their last read and
    that read is ``parameters_every`` seconds old or more (``now``: POSIX seconds).
    ``details_elsewhere`` says which devices' details come from another route (Prism):
    no ``/details`` read for them.
    """
    signatures = blueprint_signatures or {}
    items, rotated = _items(state, devices, needs, blueprint_items, item_names,
                            healthy_item_every, page_size)
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

    status_due: list[tuple[int, int, Device]] = []
    lost_reads: list[str] = []
    # Per device: the kinds its per-device reads must cover, in priority order later.
    due: list[tuple[int, int, Device, tuple[FactKind, ...]]] = []
    for position, dev in enumerate(devices):
        did = dev.device_id
        memo = state.devices.get(did)
        key = fresh_key(dev, signatures.get(dev.blueprint_id, 0))
        waited = memo.read_sweep if memo is not None else -1
        kinds: list[FactKind] = []
        no_bulk = items_per_device or (
            FactKind.LIBRARY_ITEMS in needs
            and blueprint_items is not None
            and dev.blueprint_id not in listed_blueprints
        )
        if no_bulk:
            status_due.append((waited, position, dev))  # /status carries the parameters
        elif (
            FactKind.PARAMETERS in needs
            and dev.platform == MAC
            and (memo is None or (memo.parameters_key != key
                                  and now - memo.parameters_at >= parameters_every))
        ):
            kinds.append(FactKind.PARAMETERS)
        if (
            FactKind.DETAILS in needs
            and (memo is None or memo.details_key != key)
            and not (details_elsewhere is not None and details_elsewhere(dev))
        ):
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
            due.append((waited, position, dev, tuple(kinds)))

    left = None if allowance is None else max(0, allowance - len(lost_reads))
    item_budget = None
    if allowance is not None and pace_items:
        item_budget = max(0, allowance - len(lost_reads) - math.floor(per_device_share * allowance))
    # Library items: fleet-wide pages in priority order, and /status reads of devices
    # with no bulk route (oldest read first).
    news = item_news(
        {r.item_id: r.pages for r in items},
        state.groups,
        state.item_read_at,
        ((group_of(d), d.last_check_in) for d in devices),
    )
    order = item_order([r.item_id for r in items], state.item_last_read,
                       state.unhealthy_items, news)
    items = [items[k] for k in order]
    status_due.sort(key=lambda entry: (entry[0], entry[1]))
    costs = [1] * len(status_due) + [r.pages for r in items]
    taken = fit(costs, item_budget, head_always=True)
    status_reads = [d for (_, _, d), ok in zip(status_due, taken, strict=False) if ok]
    chosen = [r for r, ok in zip(items, taken[len(status_due):], strict=True) if ok]
    held = [r.item_id for r, ok in zip(items, taken[len(status_due):], strict=True) if not ok]
    deferred = [d.device_id for (_, _, d), ok in zip(status_due, taken, strict=False) if not ok]
    if allowance is not None and left is not None:
        # The per-device share holds even when the items took more (a first sweep).
        used = len(status_reads) + sum(r.pages for r in chosen)
        left = max(math.floor(per_device_share * allowance), left - used)
    if per_device_allowance is not None:
        left = per_device_allowance if left is None else min(left, per_device_allowance)

    due.sort(key=lambda entry: (entry[0], entry[1]))
    reads: dict[FactKind, list[str]] = {k: [] for k in _PER_DEVICE_KINDS}
    for (_, _, dev, wanted), ok in zip(
        due, fit([len(w) for *_, w in due], left), strict=True
    ):
        if not ok:
            deferred.append(dev.device_id)
            continue
        for kind in wanted:
            reads[kind].append(dev.device_id)
    return SweepPlan(
        items=tuple(chosen),
        rotated_out=tuple(rotated),
        deferred_items=tuple(held),
        status_reads=tuple(d.device_id for d in status_reads),
        parameter_reads=tuple(reads[FactKind.PARAMETERS]),
        details_reads=tuple(reads[FactKind.DETAILS]),
        apps_reads=tuple(reads[FactKind.APPS]),
        lost_mode_reads=tuple(lost_reads),
        deferred=tuple(deferred),
        items_per_device=bool(items_per_device),
        bulk_item_pages=bulk_item_pages,
    )


_PER_DEVICE_KINDS = (FactKind.PARAMETERS, FactKind.DETAILS, FactKind.APPS)


def _items(
    state: PlannerState,
    devices: Sequence[Device],
    needs: frozenset[FactKind],
    blueprint_items: Mapping[str, Sequence[str]] | None,
    item_names: Mapping[str, str],
    healthy_item_every: int,
    page_size: int,
) -> tuple[list[ItemRead], list[str]]:
    """Every assigned item's fleet-wide read (pages from the devices its groups hold),
    and the healthy items rotated out this sweep."""
    items: list[ItemRead] = []
    rotated: list[str] = []
    if FactKind.LIBRARY_ITEMS not in needs or blueprint_items is None:
        return items, rotated
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
    return items, rotated


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
    "fresh_key",
    "group_of",
    "keep_every_subject",
    "plan_probes",
    "plan_sweep",
]
