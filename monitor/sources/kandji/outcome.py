"""One planned sweep of a Kandji tenant: the state of its reads while they run, and the
outcome assembled from them and from the planner's memory of earlier sweeps."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from monitor.models import Coverage, Device, FactKind, Subject, SubjectKind
from monitor.sources.base import SweepOutcome
from monitor.sources.kandji.discovery import Discovery
from monitor.sources.kandji.planner import (
    MAC,
    PlannerState,
    SweepPlan,
    fresh_key,
    group_of,
)
from monitor.sources.kandji.prism_facts import PrismMirror

MAX_ERROR_LINES = 20
"""Error lines kept per sweep; the rest are counted (a dead tenant fails every read)."""

CARRY_FOR = timedelta(hours=1)
"""How long the rows of an item's last read stand for it while it is not read again
(deferred by the budget or rotated out): past that, its devices' library items count
as unobserved, so their alerts are held until a read."""


@dataclass
class Run:
    """The mutable state of one sweep while its reads run."""

    devices: dict[str, Device]
    needs: frozenset[FactKind]
    sweep: int
    signatures: dict[str, int]
    started: datetime
    library: dict[str, list[Subject]] = field(default_factory=dict)
    items_read: set[str] = field(default_factory=set)
    untyped: set[str] = field(default_factory=set)
    status_read: set[str] = field(default_factory=set)
    status_due: set[str] = field(default_factory=set)
    lost: dict[str, list[Subject]] = field(default_factory=dict)
    lost_failed: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    failures: int = 0

    def fail(self, what: str, exc: Exception) -> None:
        """Note a failed read (its facts are held this sweep)."""
        self.failures += 1
        if len(self.errors) < MAX_ERROR_LINES:
            self.errors.append(f"{what}: {exc}")

    def key(self, dev: Device) -> int:
        """What must stay the same for the device's last per-device read to stay fresh."""
        return fresh_key(dev, self.signatures.get(dev.blueprint_id, 0))


def assemble(
    out: SweepOutcome,
    run: Run,
    found: Discovery,
    plan: SweepPlan,
    state: PlannerState,
    prism: PrismMirror | None = None,
) -> None:
    """Devices, kept subjects and exact coverage from what this sweep and memory saw
    (details of the devices ``prism`` covers come from it)."""
    needs = run.needs
    standing, carried = _carried(run, plan, state)
    lost_due = frozenset(plan.lost_mode_reads)
    observed: dict[FactKind, set[str]] = {k: set() for k in needs}
    for did, dev in run.devices.items():
        memo = state.devices.get(did)
        key = run.key(dev)
        subjects: dict[SubjectKind, list[Subject]] = {}
        if FactKind.DETAILS in needs and prism is not None and prism.covers(dev.platform):
            if prism.fresh:
                if did in prism.attrs:
                    dev = dataclasses.replace(dev, attrs={**dev.attrs, **prism.attrs[did]})
                observed[FactKind.DETAILS].add(did)
        elif FactKind.DETAILS in needs and memo is not None and memo.details_key == key:
            if memo.details:
                dev = dataclasses.replace(dev, attrs={**dev.attrs, **memo.details})
            observed[FactKind.DETAILS].add(did)
        out.devices[did] = dev
        if FactKind.LIBRARY_ITEMS in needs and _items_observed(run, found, dev, standing, state):
            observed[FactKind.LIBRARY_ITEMS].add(did)
            library = run.library.get(did, [])
            if did in carried:
                holds = state.groups.get(group_of(dev), frozenset())
                library = library + [s for item, s in carried[did] if item in holds]
            if library:
                subjects[SubjectKind.LIBRARY_ITEM] = library
        if FactKind.PARAMETERS in needs:
            if dev.platform != MAC:
                observed[FactKind.PARAMETERS].add(did)
            elif memo is not None and memo.parameters_key == key:
                observed[FactKind.PARAMETERS].add(did)
                if memo.parameters:
                    subjects[SubjectKind.PARAMETER] = list(memo.parameters)
        if FactKind.APPS in needs and memo is not None and memo.apps_key == key:
            observed[FactKind.APPS].add(did)
            if memo.apps:
                subjects[SubjectKind.APP] = list(memo.apps)
        if FactKind.LOST_MODE in needs:
            if did not in lost_due:
                observed[FactKind.LOST_MODE].add(did)
            elif did in run.lost:
                observed[FactKind.LOST_MODE].add(did)
                if run.lost[did]:
                    subjects[SubjectKind.LOST_MODE] = run.lost[did]
        if subjects:
            out.subjects[did] = subjects
    everyone = frozenset(run.devices)
    complete = frozenset(k for k, ids in observed.items() if len(ids) == len(everyone))
    out.coverage = Coverage(
        source=out.source,
        devices=everyone,
        device_list_complete=True,
        complete_kinds=complete | {FactKind.DEVICE},
        partial={k: frozenset(ids) for k, ids in observed.items() if k not in complete},
    )

def _carried(
    run: Run, plan: SweepPlan, state: PlannerState
) -> tuple[frozenset[str], dict[str, list[tuple[str, Subject]]]]:
    """The items this sweep did not read whose last read still stands (see
    :data:`CARRY_FOR`), and the rows kept from those reads, by device."""
    horizon = run.started - CARRY_FOR
    standing: set[str] = set()
    carried: dict[str, list[tuple[str, Subject]]] = {}
    for item_id in (*plan.rotated_out, *plan.deferred_items):
        at = state.item_read_at.get(item_id)
        if at is None or at < horizon:
            continue
        standing.add(item_id)
        for did, subject in state.item_rows.get(item_id, ()):
            carried.setdefault(did, []).append((item_id, subject))
    return frozenset(standing), carried


def _items_observed(
    run: Run, found: Discovery, dev: Device, standing: frozenset[str], state: PlannerState
) -> bool:
    """Whether every library item the device can carry was read, or not read this sweep
    while its last read still stands."""
    did = dev.device_id
    if did in run.status_due:
        return did in run.status_read
    if found.items is None or dev.blueprint_id not in found.items or did in run.untyped:
        return False
    carried = state.groups.get(group_of(dev))
    if carried is None:
        return False
    return all(i in run.items_read or i in standing for i in carried)


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one planned sweep predicted and what it spent, for logs and tests.

    ``pace`` is what the sweep's interval earned (None: not paced) and ``allowance``
    what the plan was given after the device list, the feed, discovery and probes."""

    sweep: int
    discovery_requests: int
    probe_requests: int
    plan: SweepPlan
    requests: int
    started_at: datetime | None = None
    pace: int | None = None
    allowance: int | None = None

    @property
    def predicted_requests(self) -> int:
        """Discovery, probes and the plan: what the sweep costs when nothing fails."""
        return self.discovery_requests + self.probe_requests + self.plan.requests


__all__ = ["MAX_ERROR_LINES", "Run", "SweepReport", "assemble"]
