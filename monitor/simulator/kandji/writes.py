"""Changing a simulated Kandji fleet: the test hooks, PATCH, enrolment and device actions."""

from __future__ import annotations

import heapq
import math
import uuid
from datetime import datetime, timedelta
from typing import Any

from monitor.simulator.kandji import catalog
from monitor.simulator.kandji.catalog import APPLETV, MAC, MOBILE, PLATFORMS
from monitor.simulator.kandji.model import (
    _FV_OFF,
    _GONE,
    _ITEM_CODE,
    _LOST,
    _NO_USER,
    _P_PENDING,
    _PARAM_CODE,
    _PENDING,
    _PPENDING,
    _UNSET,
    ITEM_STATUSES,
    PARAMETER_STATUSES,
    PROFILE_STATUSES,
    ActivityEvent,
    Blueprint,
    Change,
    Command,
    FieldError,
    LibraryItem,
    LostMode,
    _bisect,
    _command_details,
    _Overrides,
    _Scheduled,
    _ts,
)
from monitor.simulator.kandji.reads import FleetReads


class FleetWrites(FleetReads):
    """The hooks that change a fleet on purpose (tests, the demo, the API's writes)."""

    @staticmethod
    def _item_code(item: LibraryItem, status: str) -> int:
        code = _ITEM_CODE.get(status)
        if code is None or (status in PROFILE_STATUSES) != item.is_profile:
            allowed = (
                sorted(PROFILE_STATUSES)
                if item.is_profile
                else [s for s in ITEM_STATUSES if s and s not in PROFILE_STATUSES]
            )
            raise ValueError(f"{item.type} items take one of {allowed}, not {status!r}")
        return code

    def set_item_status(self, device_id: str, item_id: str, status: str) -> None:
        """Set one library item's status on one device (profiles take lower case)."""
        i = self.require(device_id)
        item = self._require_item(item_id)
        self._item_status[item.index][i] = self._item_code(item, status)

    def set_parameter_status(self, device_id: str, parameter_id: str, status: str) -> None:
        """Set one macOS parameter's status on one Mac."""
        i = self.require(device_id)
        param = self._require_parameter(parameter_id)
        code = _PARAM_CODE.get(status)
        if code is None:
            raise ValueError(f"parameter status must be one of {PARAMETER_STATUSES[1:]}")
        self._param_status[param.index][i] = code

    def schedule_item_status(self, device_id: str, item_id: str, status: str, at: datetime) -> None:
        """Set an item's status on a device once the clock reaches ``at``."""
        i = self.require(device_id)
        item = self._require_item(item_id)
        code = self._item_code(item, status)
        heapq.heappush(
            self._scheduled, _Scheduled(_ts(at), next(self._seq), "item", i, item.index, code)
        )

    def apply_due(self) -> list[Change]:
        """Apply every scheduled change whose time has come; cheap when none is due."""
        changes: list[Change] = []
        if not self._scheduled:
            return changes
        now_ts = _ts(self.clock.now())
        while self._scheduled and self._scheduled[0].when <= now_ts:
            due = heapq.heappop(self._scheduled)
            if self._flags[due.device] & _GONE:
                continue
            statuses = self._item_status[due.subject]
            old = statuses[due.device]
            statuses[due.device] = due.code
            changes.append(
                Change(
                    self.device_id(due.device),
                    "library_item",
                    self.items[due.subject].id,
                    ITEM_STATUSES[old],
                    ITEM_STATUSES[due.code],
                )
            )
        return changes

    def check_in(self, device_id: str, when: datetime | None = None) -> None:
        """Record a check-in of the device at ``when`` (default now); a silent device
        resumes its regular schedule."""
        i = self.require(device_id)
        at = _ts(when or self.clock.now())
        self._seen[i] = max(self._seen[i], at)
        self._pinned[i] = math.nan
        self._silent.discard(i)

    def go_silent(self, device_id: str, since: datetime | None = None) -> None:
        """Stop the device's check-ins; its last check-in stays at ``since`` (default:
        its current last check-in)."""
        i = self.require(device_id)
        now_ts = _ts(self.clock.now())
        self._pinned[i] = _ts(since) if since is not None else self._last_check_in_ts(i, now_ts)
        if since is not None:
            self._seen[i] = 0.0
        self._silent.add(i)

    def set_filevault(self, device_id: str, enabled: bool) -> None:
        """Turn FileVault on or off on a Mac."""
        i = self.require(device_id)
        if self._platform[i] != MAC:
            raise ValueError("FileVault applies to Macs only")
        self._set_flag(i, _FV_OFF, not enabled)

    def set_lost_mode(self, device_id: str, enabled: bool) -> None:
        """Enable or disable Lost Mode on an iPhone or iPad."""
        i = self.require(device_id)
        if self._platform[i] not in MOBILE:
            raise ValueError("Lost Mode applies to iPhone and iPad only")
        self._enable_lost_mode(i, enabled)

    def _enable_lost_mode(
        self, i: int, enabled: bool, message: str = "", phone: str = "", footnote: str = ""
    ) -> None:
        if enabled:
            now = self.clock.now()
            self._lost_info[i] = LostMode(
                enabled_by="API",
                enabled_at=now,
                message=message,
                phone=phone,
                footnote=footnote,
                located_at=now + timedelta(seconds=61),
                latitude="37.33467518310000",
                longitude="-122.00898250000000",
                sound_at=None,
            )
        else:
            self._lost_info.pop(i, None)
        self._set_flag(i, _LOST, enabled)

    def _set_flag(self, i: int, flag: int, on: bool) -> None:
        if on:
            self._flags[i] |= flag
        else:
            self._flags[i] &= ~flag & 0xFF
        self._touch(i)
        self._generation += 1

    def _touch(self, i: int) -> None:
        """Note that something the device's records show changed now."""
        self._changed[i] = _ts(self.clock.now())

    def update_device(
        self,
        device_id: str,
        *,
        blueprint_id: object = _UNSET,
        user: object = _UNSET,
        asset_tag: object = _UNSET,
        tags: object = _UNSET,
    ) -> None:
        """Apply a PATCH: move blueprint, set or clear user and asset tag, replace tags.

        Raises :class:`FieldError` naming the first invalid field; nothing is changed
        then.
        """
        i = self.require(device_id)
        new_bp: Blueprint | None = None
        new_user: int | bool | None = False
        if blueprint_id is not _UNSET:
            new_bp = self.blueprint(blueprint_id) if isinstance(blueprint_id, str) else None
            if new_bp is None:
                raise FieldError(
                    "blueprint_id", f'Invalid pk "{blueprint_id}" - object does not exist.'
                )
        if user is not _UNSET:
            if user is None:
                new_user = None
            else:
                found = self.user_by_id(user) if isinstance(user, str) else None
                if found is None:
                    raise FieldError("user", f'Invalid pk "{user}" - object does not exist.')
                new_user = found.index
        if asset_tag is not _UNSET and asset_tag is not None and not isinstance(asset_tag, str):
            raise FieldError("asset_tag", "Not a valid string.")
        if tags is not _UNSET and (
            not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)
        ):
            raise FieldError("tags", 'Expected a list of items but got type "str".')
        over = self._overrides.setdefault(i, _Overrides())
        if new_user is not False:
            over.user = new_user
        if asset_tag is not _UNSET:
            over.asset_tag = asset_tag if isinstance(asset_tag, str) else ""
        if isinstance(tags, list):
            over.tags = tuple(dict.fromkeys(str(t) for t in tags))
        if new_bp is not None and new_bp.index != self._blueprint[i]:
            self._move(i, new_bp)
        self._touch(i)
        self._generation += 1

    def _move(self, i: int, bp: Blueprint) -> None:
        old = self._blueprint[i]
        self._members[old].remove(i)
        members = self._members[bp.index]
        members.insert(_bisect(members, i), i)
        self._blueprint[i] = bp.index
        # Items new to the device start over, as on a real blueprint move.
        old_items = self._blueprint_items[old]
        for j in bp.item_indices:
            if j not in old_items:
                self._item_status[j][i] = _PPENDING if self.items[j].is_profile else _PENDING
        for p in bp.param_indices:
            if p not in self._blueprint_params[old]:
                self._param_status[p][i] = _P_PENDING
        self._append_event(
            i, "blueprint_changed", {"to": bp.name, "from": self.blueprints[old].name}, bp
        )

    def add_device(self, platform: str = "Mac", blueprint_id: str | None = None) -> str:
        """Enrol a new device now; its items start pending. Returns its id."""
        if platform not in PLATFORMS:
            raise ValueError(f"platform must be one of {PLATFORMS}")
        code = PLATFORMS.index(platform)
        bp = (
            self.blueprint(blueprint_id) if blueprint_id else self._blueprints_for_platform[code][0]
        )
        if bp is None:
            raise KeyError(f"unknown blueprint {blueprint_id}")
        i = len(self._platform)
        self._platform.append(code)
        self._blueprint.append(bp.index)
        self._flags.append(_NO_USER if code == APPLETV else 0)
        self._pinned.append(math.nan)
        now_ts = _ts(self.clock.now())
        self._seen.append(now_ts)
        self._enrolled_at[i] = now_ts
        for statuses in self._item_status:
            statuses.append(0)
        for statuses in self._param_status:
            statuses.append(0)
        self._reset_to_pending(i)
        self._alive.append(i)
        self._members[bp.index].append(i)
        device_id = self.device_id(i)
        self._record_change("create", "device", device_id, self._device_state(i))
        return device_id

    def remove_device(self, device_id: str) -> None:
        """Delete a device from the tenant (it disappears from every endpoint)."""
        i = self.require(device_id)
        self._flags[i] |= _GONE
        self._alive.remove(i)
        self._members[self._blueprint[i]].remove(i)
        self._silent.discard(i)
        self._record_change("delete", "device", device_id, self._device_state(i))

    def _record_change(
        self, action: str, kind: str, target_id: str, state: dict[str, Any], **extra: Any
    ) -> None:
        """A change readers must see (lists are read afresh) and the audit feed shows."""
        self._generation += 1
        self.audit.record(action, kind, target_id, state, **extra)

    def _device_state(self, i: int) -> dict[str, object]:
        device = self.device(i)
        return {
            "name": device.name,
            "serial_number": device.serial_number,
            "platform": device.platform,
            "blueprint_id": device.blueprint.id,
        }

    def _append_event(
        self, i: int, action_type: str, details: dict[str, object], bp: Blueprint | None
    ) -> None:
        event = ActivityEvent(next(self._event_ids), self.clock.now(), action_type, details, bp)
        self._events.setdefault(i, []).append(event)

    def perform_action(
        self, i: int, action: str, body: dict[str, object] | None = None
    ) -> dict[str, object] | None:
        """Run a device action (``POST /devices/{id}/action/<action>``).

        Returns the JSON body to answer with (``None``: empty 200). Raises
        :class:`ValueError` with the documented 400 message when the action cannot run.
        """
        body = body or {}
        code = self._platform[i]
        now = self.clock.now()
        result: dict[str, object] | None = None
        if action == "lock":
            if i in self._locked:
                raise ValueError("This device is already locked.")
            self._locked.add(i)
            if code == MAC:
                result = {
                    "PIN": f"{int.from_bytes(self._dna('pin', i)[:4], 'big') % 1_000_000:06d}"
                }
        elif action in ("enablelostmode", "disablelostmode", "playlostmodesound", "updatelocation"):
            if code not in MOBILE:
                raise ValueError("Lost Mode is only available on iPhone and iPad.")
            if action == "enablelostmode":
                self._enable_lost_mode(
                    i,
                    True,
                    str(body.get("Message", "")),
                    str(body.get("PhoneNumber", "")),
                    str(body.get("Footnote", "")),
                )
            elif action == "disablelostmode":
                self._enable_lost_mode(i, False)
        if action in ("blankpush", "updateinventory", "dailycheckin"):
            self._seen[i] = max(self._seen[i], _ts(now))
            if i in self._silent:
                self._pinned[i] = math.nan
                self._silent.discard(i)
        bp = self.blueprints[self._blueprint[i]]
        for k, (ctype, rtype) in enumerate(catalog.ACTION_COMMANDS.get(action, ())):
            requested = now + timedelta(milliseconds=20 * k)
            cmd = Command(
                str(uuid.UUID(int=self._evolve_rng.getrandbits(128), version=4)),
                ctype,
                rtype,
                3,
                requested,
                requested + timedelta(milliseconds=350),
            )
            self._commands.setdefault(i, []).append(cmd)
            self._append_event(i, "mdm_command_completed", _command_details(cmd), bp)
        return result

    def cancel_lost_mode(self, i: int) -> None:
        """Cancel Lost Mode (the DELETE on ``details/lostmode``)."""
        self._enable_lost_mode(i, False)

    # --- evolution --------------------------------------------------------------------
