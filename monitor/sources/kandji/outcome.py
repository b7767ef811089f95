"""One planned sweep of a Kandji tenant: the state of its reads while they run, and the
outcome assembled from them and from the planner's memory of earlier sweeps."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

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

MAX_ERROR_LINES = 20
"""Error lines kept per sweep; the rest are counted (a dead tenant fails every read)."""



@dataclass
class Run:
    """The mutable state of one sweep while its reads run."""

    devices: dict[str, Device]
    needs: frozenset[FactKind]
    sweep: int
    signatures: dict[str, int]
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
) -> None:
    """Devices, kept subjects and exact coverage from what this sweep and memory saw."""
    needs = run.needs
    rotated = frozenset(plan.rotated_out)
    lost_due = frozenset(plan.lost_mode_reads)
    observed: dict[FactKind, set[str]] = {k: set() for k in needs}
    for did, dev in run.devices.items():
        memo = state.devices.get(did)
        key = run.key(dev)
        subjects: dict[SubjectKind, list[Subject]] = {}
        if FactKind.DETAILS in needs and memo is not None and memo.details_key == key:
            if memo.details:
                dev = dataclasses.replace(dev, attrs={**dev.attrs, **memo.details})
            observed[FactKind.DETAILS].add(did)
        out.devices[did] = dev
        if FactKind.LIBRARY_ITEMS in needs and _items_observed(run, found, dev, rotated, state):
            observed[FactKind.LIBRARY_ITEMS].add(did)
            library = run.library.get(did)
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

def _items_observed(
    run: Run, found: Discovery, dev: Device, rotated: frozenset[str], state: PlannerState
) -> bool:
    """Whether every library item the device can carry was read (or rotated out)."""
    did = dev.device_id
    if did in run.status_due:
        return did in run.status_read
    if found.items is None or dev.blueprint_id not in found.items or did in run.untyped:
        return False
    carried = state.groups.get(group_of(dev))
    if carried is None:
        return False
    return all(i in run.items_read or i in rotated for i in carried)


__all__ = ["MAX_ERROR_LINES", "Run", "assemble"]
