"""A seeded, compact, evolving model of one Kandji tenant's fleet.

The fleet answers "what would Kandji say about device *i* right now" for the simulated
HTTP API (:mod:`monitor.simulator.kandji`) and lets tests and the demo change that
state on purpose.

Memory: a fleet must hold 100,000 devices with 60 library items each in a few tens of
megabytes, so nothing is stored per device that can be derived. Per device the fleet
keeps a handful of array slots (platform, blueprint, flags, pinned check-in); per library
item and per macOS parameter one ``bytearray`` of status codes indexed by device index.
Names, serial numbers, UUIDs, models, enrolment dates and the like are derived on demand
from ``(seed, device index)`` with a keyed hash, and a device UUID carries its index in
its last 48 bits (scrambled with a seed-derived key), so looking a device up by id needs no
dictionary. Only what tests or the API change by hand (PATCHed fields, extra activity,
lost-mode details) lives in small sparse dicts.

Time: the fleet reads time only from the injected :class:`~monitor.clock.Clock`. A device
that is not silent checks in on a fixed schedule (every 15 minutes for a Mac, every few
hours for mobile devices) with a per-device phase, so ``last_check_in`` moves with the
clock without any bookkeeping. :meth:`Fleet.advance` applies churn (items failing and
recovering, devices going silent and coming back) drawn from a seeded generator, so the
same seed and the same sequence of calls give the same fleet.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from datetime import timedelta

from monitor.simulator.kandji.admin import FleetAdmin
from monitor.simulator.kandji.catalog import MAC
from monitor.simulator.kandji.model import (
    _ERROR,
    _NEVER,
    _P_ERROR,
    _P_PASS,
    _P_REMEDIATED,
    _P_WARNING,
    _PASS,
    _PFAILED,
    _SUCCESS,
    ITEM_STATUSES,
    PARAMETER_STATUSES,
    Change,
    DemoPlan,
    _ts,
)


class Fleet(FleetAdmin):
    """The simulated tenant: devices, blueprints, library items, parameters, users.

    Construct with a :class:`~.model.FleetSpec` and the clock to read. Read with
    :meth:`device`, :meth:`device_items`, :meth:`device_parameters`,
    :meth:`item_scope`, ...; change with the hooks (:meth:`set_item_status`,
    :meth:`check_in`, :meth:`add_device`, ...), the administrator's hooks
    (:meth:`assign_library_item`, :meth:`create_blueprint`, ...) and :meth:`advance`.
    Changes an administrator or the tenant's lifecycle makes land in :attr:`audit`.
    """

    def _draw(self, expected: float) -> int:
        whole = math.floor(expected)
        return whole + (1 if self._evolve_rng.random() < expected - whole else 0)

    def advance(self, seconds: float) -> list[Change]:
        """Apply ``seconds`` of churn: some items and parameters fail, some recover,
        a few devices go silent or come back. Deterministic for a given seed and call
        sequence. Scheduled changes that are due are applied first."""
        changes = self.apply_due()
        if seconds <= 0:
            return changes
        hours = seconds / 3600.0
        spec = self.spec
        rng = self._evolve_rng
        silent = self._silent
        for item in self.items:
            statuses = self._item_status[item.index]
            ok, bad = (_SUCCESS, _PFAILED) if item.is_profile else (_PASS, _ERROR)
            scope = self.item_scope(item)
            if scope:
                for _ in range(self._draw(len(scope) * spec.fail_per_hour * hours)):
                    i = scope[rng.randrange(len(scope))]
                    # A silent device reports nothing, so nothing changes on it.
                    if statuses[i] == ok and i not in silent:
                        statuses[i] = bad
                        changes.append(
                            self._change(i, "library_item", item.id, ok, bad, ITEM_STATUSES)
                        )
            for i in self._recover(statuses, bad, spec.recover_per_hour * hours):
                if not self._in_scope(i, item):
                    # Out of scope the slot is invisible; clear it so it stops
                    # diluting the recovery of devices that do report.
                    statuses[i] = ok
                elif i not in silent:
                    statuses[i] = ok
                    changes.append(self._change(i, "library_item", item.id, bad, ok, ITEM_STATUSES))
        for param in self.parameters:
            statuses = self._param_status[param.index]
            scope = self.parameter_scope(param)
            if scope:
                for _ in range(self._draw(len(scope) * spec.fail_per_hour * hours)):
                    i = scope[rng.randrange(len(scope))]
                    if statuses[i] in (_P_PASS, _P_REMEDIATED) and i not in silent:
                        old = statuses[i]
                        muted = param.index in self.blueprints[self._blueprint[i]].muted_params
                        statuses[i] = _P_WARNING if muted else _P_ERROR
                        changes.append(
                            self._change(
                                i, "parameter", param.id, old, statuses[i], PARAMETER_STATUSES
                            )
                        )
            for bad in (_P_ERROR, _P_WARNING):
                for i in self._recover(statuses, bad, spec.recover_per_hour * hours):
                    if not self._param_in_scope(i, param):
                        statuses[i] = _P_PASS
                    elif i not in silent:
                        new = _P_REMEDIATED if rng.random() < 0.5 else _P_PASS
                        statuses[i] = new
                        changes.append(
                            self._change(i, "parameter", param.id, bad, new, PARAMETER_STATUSES)
                        )
        changes.extend(self._churn_check_ins(hours))
        return changes

    def _recover(self, statuses: bytearray, bad: int, probability: float) -> list[int]:
        """Pick each slot holding ``bad`` with about ``probability``, uniformly."""
        positions: list[int] = []
        pos = statuses.find(bad)
        while pos >= 0:  # find() runs in C; only failing slots cost a Python step
            positions.append(pos)
            pos = statuses.find(bad, pos + 1)
        if not positions:
            return []
        k = min(len(positions), self._draw(len(positions) * min(1.0, probability)))
        return sorted(self._evolve_rng.sample(positions, k))

    def _churn_check_ins(self, hours: float) -> list[Change]:
        changes: list[Change] = []
        rng = self._evolve_rng
        now_ts = _ts(self.clock.now())
        alive = self._alive
        if alive:
            for _ in range(self._draw(len(alive) * self.spec.silence_per_hour * hours)):
                i = alive[rng.randrange(len(alive))]
                if i not in self._silent:
                    self._pinned[i] = self._last_check_in_ts(i, now_ts)
                    self._silent.add(i)
                    changes.append(Change(self.device_id(i), "silent", "", "", ""))
        for i in sorted(self._silent):
            if self._pinned[i] != _NEVER and rng.random() < min(
                1.0, self.spec.return_per_hour * hours
            ):
                self._pinned[i] = math.nan
                self._seen[i] = now_ts
                self._silent.discard(i)
                changes.append(Change(self.device_id(i), "returned", "", "", ""))
        return changes

    def _change(
        self, i: int, kind: str, subject: str, old: int, new: int, names: tuple[str, ...]
    ) -> Change:
        # A status changes because the device reported, and reporting is checking in:
        # its last_check_in moves to now, as Kandji's does. Sweeps that skip devices
        # which have not checked in since their last read rely on this.
        self._seen[i] = max(self._seen[i], _ts(self.clock.now()))
        return Change(self.device_id(i), kind, subject, names[old], names[new])

    def plant_demo_failures(self, devices: int = 3, repair_after: float = 90.0) -> DemoPlan | None:
        """Break one well-known custom script on a few Macs now and schedule its repair.

        The demo uses this so a firing alert and its resolved notice show up within
        minutes. Returns None when the fleet has no Mac with a custom script.
        """
        for bp in self.blueprints:
            if MAC not in bp.platforms:
                continue
            scripts = [
                self.items[j] for j in bp.item_indices if self.items[j].type == "custom-script"
            ]
            members = [i for i in self._members[bp.index] if self._platform[i] == MAC]
            if not scripts or not members:
                continue
            item = scripts[0]
            chosen = tuple(members[:devices])
            repair_at = self.clock.now() + timedelta(seconds=repair_after)
            for i in chosen:
                self._item_status[item.index][i] = _ERROR
                device_id = self.device_id(i)
                self.schedule_item_status(device_id, item.id, "PASS", repair_at)
            return DemoPlan(item.id, item.name, tuple(self.device_id(i) for i in chosen), repair_at)
        return None

    # --- introspection ----------------------------------------------------------------

    def storage_bytes(self) -> int:
        """Bytes held by the per-device arrays and status tables (not Python overhead)."""
        arrays: Iterable[bytearray | array[int] | array[float]] = (
            self._platform,
            self._blueprint,
            self._flags,
            self._pinned,
            self._seen,
            self._alive,
            *self._members,
            *self._item_status,
            *self._param_status,
        )
        total = 0
        for a in arrays:
            total += len(a) * (a.itemsize if isinstance(a, array) else 1)
        return total

    @property
    def status_tables(self) -> tuple[bytearray, ...]:
        """The per-item status tables (one ``bytearray`` per library item)."""
        return tuple(self._item_status)

    @property
    def sparse_state_size(self) -> int:
        """How many devices carry hand-set overrides or extra history."""
        return len(self._overrides) + len(self._events) + len(self._commands) + len(self._lost_info)

