"""Reading a simulated Kandji fleet: statuses, scopes, selections, activity, commands."""

from __future__ import annotations

import math
import uuid
from array import array
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from monitor.simulator.kandji import catalog
from monitor.simulator.kandji.catalog import MAC, PLATFORMS
from monitor.simulator.kandji.model import (
    _EVENT_STRIDE,
    _GONE,
    _NEVER,
    _ROW_STRIDE,
    _UNREPORTED,
    ITEM_STATUSES,
    PARAMETER_STATUSES,
    ActivityEvent,
    Blueprint,
    Command,
    ItemState,
    LibraryItem,
    Parameter,
    ParameterState,
    SimDevice,
    _command_details,
    _dt,
    _ts,
)
from monitor.simulator.kandji.state import FleetState


class FleetReads(FleetState):
    """What a fleet says about its devices' items, parameters and history."""

    def _in_scope(self, i: int, item: LibraryItem) -> bool:
        return (
            item.index in self._blueprint_items[self._blueprint[i]]
            and self._platform[i] in item.platforms
            and not self._flags[i] & _GONE
        )

    def _param_in_scope(self, i: int, param: Parameter) -> bool:
        return (
            self._platform[i] == MAC
            and param.index in self._blueprint_params[self._blueprint[i]]
            and not self._flags[i] & _GONE
        )

    def device_items(self, i: int) -> list[ItemState]:
        """The library items assigned to device ``i`` with their statuses."""
        bp = self._blueprint[i]
        code = self._platform[i]
        now_ts = _ts(self.clock.now())
        last = self._last_check_in_ts(i, now_ts)
        return [
            self._item_state(i, self.items[j], last)
            for j in self.blueprints[bp].item_indices
            if code in self.items[j].platforms
        ]

    def _item_state(self, i: int, item: LibraryItem, last_check_in: float) -> ItemState:
        code = self._item_status[item.index][i]
        reported: datetime | None = None
        if code not in _UNREPORTED and last_check_in != _NEVER:
            lag = (i * 7919 + item.index * 104729) % 1800
            reported = _dt(math.floor(last_check_in - lag))
        return ItemState(item, ITEM_STATUSES[code], reported, self._row_id(item.index, i))

    @staticmethod
    def _row_id(item_index: int, device_index: int) -> int:
        return 1000 + item_index * _ROW_STRIDE + device_index

    def item_state(self, i: int, item: LibraryItem) -> ItemState:
        """One library item's state on device ``i`` (in scope or not)."""
        return self._item_state(i, item, self._last_check_in_ts(i, _ts(self.clock.now())))

    def device_parameters(self, i: int) -> list[ParameterState]:
        """The macOS parameters of device ``i`` (empty for other platforms)."""
        if self._platform[i] != MAC:
            return []
        bp = self.blueprints[self._blueprint[i]]
        return [
            ParameterState(self.parameters[p], PARAMETER_STATUSES[self._param_status[p][i]])
            for p in bp.param_indices
        ]

    def item_status(self, device_id: str, item_id: str) -> str:
        """The stored status of an item on a device, for tests ("" if none)."""
        i = self.require(device_id)
        item = self._require_item(item_id)
        return ITEM_STATUSES[self._item_status[item.index][i]]

    def parameter_status(self, device_id: str, parameter_id: str) -> str:
        """The stored status of a parameter on a device, for tests."""
        i = self.require(device_id)
        param = self._require_parameter(parameter_id)
        return PARAMETER_STATUSES[self._param_status[param.index][i]]

    def item_scope(self, item: LibraryItem) -> Sequence[int]:
        """Indices of live devices the item is assigned to, ascending."""
        bps = frozenset(
            b.index for b in self.blueprints if item.index in self._blueprint_items[b.index]
        )
        return self._scope(bps, item.platforms)

    def parameter_scope(self, param: Parameter) -> Sequence[int]:
        """Indices of live Macs whose blueprint enables the parameter, ascending."""
        bps = frozenset(
            b.index for b in self.blueprints if param.index in self._blueprint_params[b.index]
        )
        return self._scope(bps, frozenset({MAC}))

    def _scope(self, bps: frozenset[int], platforms: frozenset[int]) -> array[int]:
        if self._scope_generation != self._generation:
            self._scope_cache.clear()
            self._select_cache.clear()
            self._scope_generation = self._generation
        key = (bps, platforms)
        cached = self._scope_cache.get(key)
        if cached is None:
            merged: list[int] = []
            for b in bps:
                merged.extend(i for i in self._members[b] if self._platform[i] in platforms)
            merged.sort()
            cached = self._scope_cache[key] = array("I", merged)
        return cached

    def blueprint_members(self, bp: Blueprint) -> Sequence[int]:
        """Indices of live devices in a blueprint, ascending."""
        return self._members[bp.index]

    def select(
        self, key: tuple[object, ...], predicate: Callable[[SimDevice], bool]
    ) -> Sequence[int]:
        """Live device indices whose materialised device matches ``predicate``; cached
        under ``key`` until the fleet's membership or attributes change."""
        return self.select_indices(("device", *key), lambda i: predicate(self.device(i)))

    def select_indices(
        self, key: tuple[object, ...], predicate: Callable[[int], bool]
    ) -> Sequence[int]:
        """Live device indices matching an index ``predicate`` (cheap: no
        materialisation); cached under ``key`` like :meth:`select`."""
        if self._scope_generation != self._generation:
            self._scope_cache.clear()
            self._select_cache.clear()
            self._scope_generation = self._generation
        cached = self._select_cache.get(key)
        if cached is None:
            cached = array("I", (i for i in self._alive if predicate(i)))
            self._select_cache[key] = cached
        return cached

    def platform_code_of(self, i: int) -> int:
        """The platform code of device ``i`` (an index into ``PLATFORMS``)."""
        return self._platform[i]

    def updated_ts(self, i: int) -> float:
        """When device ``i``'s records last changed (POSIX seconds): its last report,
        which is its last check-in, or a hook's change, whichever is later; its
        enrolment when it never reported."""
        now_ts = _ts(self.clock.now())
        last = self._last_check_in_ts(i, now_ts)
        if last == _NEVER:
            last = self._enrolled_ts(i, self._dna("device", i))
        return max(last, self._changed.get(i, last))

    def updated_at(self, i: int) -> datetime:
        """:meth:`updated_ts` as a datetime."""
        return _dt(self.updated_ts(i))

    def changed_at(self, i: int) -> datetime | None:
        """When a hook last changed something device ``i``'s records show, if ever."""
        changed = self._changed.get(i)
        return None if changed is None else _dt(changed)

    def platform_of(self, i: int) -> str:
        """The platform string of device ``i`` without materialising it."""
        return PLATFORMS[self._platform[i]]

    def blueprint_of(self, i: int) -> Blueprint:
        """The blueprint of device ``i`` without materialising it."""
        return self.blueprints[self._blueprint[i]]

    def activity(self, i: int) -> list[ActivityEvent]:
        """Device ``i``'s activity feed, oldest first."""
        dev = self.device(i)
        events = self._generated_activity(dev)
        events.extend(self._events.get(i, ()))
        return events

    def _generated_activity(self, dev: SimDevice) -> list[ActivityEvent]:
        base = 1000 + dev.index * _EVENT_STRIDE
        t0 = dev.first_enrollment
        bp = dev.enrolled_blueprint
        events = [
            ActivityEvent(
                base,
                t0 + timedelta(microseconds=312_418),
                "enrollment",
                {"blueprint_name": bp.name, "enrollment_type": "DEP" if dev.ade else "MDM"},
                bp,
            )
        ]
        for k, cmd in enumerate(self._generated_commands(dev)):
            action = "mdm_command_completed" if cmd.status == 3 else "mdm_command_failed"
            created = (cmd.completed_at or cmd.requested_at) + timedelta(microseconds=7_400)
            events.append(ActivityEvent(base + 1 + k, created, action, _command_details(cmd), bp))
        if dev.dna[58] < 50:
            events.append(
                ActivityEvent(
                    base + 20,
                    t0 + timedelta(minutes=47, microseconds=int(dev.dna[59]) * 3_000),
                    "name_changed",
                    {"to": dev.name, "from": dev.hardware.model.split(" (")[0]},
                    None,
                )
            )
        if dev.blueprint is not bp:
            events.append(
                ActivityEvent(
                    base + 21,
                    t0 + timedelta(days=1, microseconds=int(dev.dna[60]) * 2_000),
                    "blueprint_changed",
                    {"to": dev.blueprint.name, "from": bp.name},
                    dev.blueprint,
                )
            )
        events.sort(key=lambda e: (e.created_at, e.id))
        return events

    def _generated_commands(self, dev: SimDevice) -> list[Command]:
        t0 = dev.first_enrollment
        commands: list[Command] = []
        for k, (ctype, rtype) in enumerate(catalog.INITIAL_COMMANDS):
            requested = t0 + timedelta(seconds=1 + k * 0.4, microseconds=dev.dna[k] * 100)
            commands.append(
                Command(
                    str(uuid.UUID(bytes=self._dna(f"cmd{k}", dev.index)[:16], version=4)),
                    ctype,
                    rtype,
                    3,
                    requested,
                    requested + timedelta(milliseconds=380 + dev.dna[k + 8]),
                )
            )
        if dev.dna[61] < 60:
            requested = t0 + timedelta(seconds=9, microseconds=dev.dna[62] * 1000)
            commands.append(
                Command(
                    str(uuid.UUID(bytes=self._dna("cmdfail", dev.index)[:16], version=4)),
                    "ActivationLockBypassCode",
                    "ActivationLockBypassCode",
                    4,
                    requested,
                    requested + timedelta(milliseconds=410),
                    (
                        {
                            "code": 12021,
                            "domain": "MCMDMErrorDomain",
                            "localized_description": "The request type is not valid.",
                            "us_english_description": "The request type is not valid.",
                        },
                    ),
                )
            )
        return commands

    def commands(self, i: int) -> list[Command]:
        """Device ``i``'s MDM commands, oldest first."""
        commands = self._generated_commands(self.device(i))
        commands.extend(self._commands.get(i, ()))
        return commands

    def is_locked(self, i: int) -> bool:
        """Whether a lock command was sent to device ``i``."""
        return i in self._locked

    # --- changing state ---------------------------------------------------------------
