"""The stored state of a simulated Kandji fleet, and every device derived from it.

:class:`FleetState` builds the fleet from its :class:`~.model.FleetSpec` (catalogue,
blueprints, devices, status tables), maps ids to indices and back, and materialises a
device (:meth:`FleetState.device`) from ``(seed, index)`` plus the few sparse overrides.
The reading and writing hooks build on it (:mod:`.reads`, :mod:`.writes`), and
:class:`~.fleet.Fleet` adds evolution over time.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import uuid
from array import array
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime

from monitor.clock import Clock
from monitor.simulator.kandji import catalog
from monitor.simulator.kandji.audit import AuditLog
from monitor.simulator.kandji.catalog import MAC, MOBILE
from monitor.simulator.kandji.model import (
    _ADE,
    _CHECK_IN_INTERVAL,
    _DIRECTORY_USERS,
    _FV_OFF,
    _GONE,
    _HOSTNAME_JUNK,
    _LOST,
    _MASK48,
    _NEVER,
    _NO_AGENT,
    _NO_MDM,
    _NO_USER,
    _P_PENDING,
    _PENDING,
    _PPENDING,
    _REMOVED,
    _SCRAMBLE,
    _UNSCRAMBLE,
    ActivityEvent,
    Blueprint,
    Command,
    FleetSpec,
    LibraryItem,
    LostMode,
    Parameter,
    SimDevice,
    SimUser,
    UnknownDeviceError,
    _dt,
    _Overrides,
    _Scheduled,
    _serial,
    _ts,
    default_lost_mode,
    device_name,
)
from monitor.simulator.kandji.seeding import (
    initial_flags,
    initial_item_statuses,
    initial_param_statuses,
)
from monitor.simulator.lookup import known


class FleetState:
    """The simulated tenant: devices, blueprints, library items, parameters, users.

    Construct with a :class:`FleetSpec` and the clock to read. Read with
    :meth:`device`, :meth:`device_items`, :meth:`device_parameters`,
    :meth:`item_scope`, ...; change with the hooks (:meth:`set_item_status`,
    :meth:`check_in`, :meth:`add_device`, ...) and :meth:`advance`.
    """

    def __init__(self, spec: FleetSpec | None = None, *, clock: Clock) -> None:
        self.spec = spec or FleetSpec()
        self.clock = clock
        self._seed = self.spec.seed
        self._epoch = _ts(clock.now())
        rng = random.Random(f"kandji-fleet:{self._seed}")
        self._masks: dict[str, int] = {}
        self._build_catalog(rng)
        n = self.spec.devices
        self._platform = bytearray(n)
        self._blueprint = array("H", bytes(2 * n))
        self._flags = bytearray(n)
        self._pinned = array("d", [math.nan]) * n  # NaN: follows its schedule
        self._seen = array("d", bytes(8 * n))  # explicit check-in, 0.0: none
        self._enrolled_at: dict[int, float] = {}  # devices added after construction
        self._overrides: dict[int, _Overrides] = {}
        self._lost_info: dict[int, LostMode] = {}
        self._locked: set[int] = set()
        self._events: dict[int, list[ActivityEvent]] = {}
        self._commands: dict[int, list[Command]] = {}
        self._silent: set[int] = set()
        self._changed: dict[int, float] = {}  # when a hook last changed what rows show
        self._scheduled: list[_Scheduled] = []
        self._seq = itertools.count()
        self._event_ids = itertools.count(10_000_000_000)
        self._generation = 0
        self._scope_cache: dict[tuple[frozenset[int], frozenset[int]], array[int]] = {}
        self._scope_generation = -1
        self._select_cache: dict[tuple[object, ...], array[int]] = {}
        self._build_devices(rng)
        self._item_status = [initial_item_statuses(self.spec, rng, item) for item in self.items]
        self._param_status = [initial_param_statuses(self.spec, rng) for _ in self.parameters]
        for i in self._silent:
            if self._pinned[i] == _NEVER:
                self._reset_to_pending(i)
        self._evolve_rng = random.Random(f"kandji-evolve:{self._seed}")
        self.audit = AuditLog(clock, self._seed)
        for bp in self.blueprints:
            # The blueprints were made before the simulated history starts.
            self.audit.record(
                "create",
                "blueprint",
                bp.id,
                {"description": bp.description, "type": bp.type, "name": bp.name},
                metadata={"source_id": None, "source": None},
                at=_dt(self._epoch - (len(self.blueprints) - bp.index) * 86400.0),
            )

    # --- construction -----------------------------------------------------------------

    def _build_catalog(self, rng: random.Random) -> None:
        spec = self.spec
        self.parameters: tuple[Parameter, ...] = tuple(
            Parameter(i, p.id, p.name, p.category, p.subcategory)
            for i, p in enumerate(catalog.PARAMETERS[: spec.parameters])
        )
        items: list[LibraryItem] = []
        for i in range(spec.library_items):
            base = catalog.ITEMS[i % len(catalog.ITEMS)]
            round_ = i // len(catalog.ITEMS)
            name = base.name if round_ == 0 else f"{base.name} ({round_ + 1})"
            items.append(
                LibraryItem(
                    index=i,
                    id=self._indexed_uuid("item", i),
                    name=name,
                    type=base.type,
                    platforms=base.platforms,
                    self_service=base.self_service,
                    identifier=base.identifier,
                    rules_present=rng.random() < 0.15,
                )
            )
        self.items: tuple[LibraryItem, ...] = tuple(items)
        blueprints: list[Blueprint] = []
        for b, bspec in enumerate(catalog.BLUEPRINTS):
            compatible = [it.index for it in items if it.platforms & bspec.platforms]
            if len(compatible) > spec.items_per_blueprint:
                compatible = sorted(rng.sample(compatible, spec.items_per_blueprint))
            params: tuple[int, ...] = ()
            muted: frozenset[int] = frozenset()
            if MAC in bspec.platforms and self.parameters:
                count = min(spec.parameters_per_blueprint, len(self.parameters))
                params = tuple(sorted(rng.sample(range(len(self.parameters)), count)))
                muted = frozenset(p for p in params if rng.random() < 0.15)
            blueprints.append(
                Blueprint(
                    **asdict(bspec),
                    index=b,
                    id=self._indexed_uuid("blueprint", b),
                    enrollment_code=f"{rng.randrange(1_000_000):06d}",
                    item_indices=tuple(compatible),
                    param_indices=params,
                    muted_params=muted,
                )
            )
        self.blueprints: tuple[Blueprint, ...] = tuple(blueprints)
        self._blueprint_items = [frozenset(bp.item_indices) for bp in blueprints]
        self._blueprint_params = [frozenset(bp.param_indices) for bp in blueprints]
        self._item_by_id = {it.id: it for it in self.items}
        self._blueprint_by_id = {bp.id: bp for bp in self.blueprints}
        self._param_by_id = {p.id: p for p in self.parameters}
        self._blueprints_for_platform = {
            code: [bp for bp in blueprints if code in bp.platforms] for code in range(4)
        }
        self.tags: tuple[tuple[str, str], ...] = tuple(
            (self._indexed_uuid("tag", i), name) for i, name in enumerate(catalog.TAG_NAMES)
        )
        # A fixed directory size keeps a device's user (and so its name) the same
        # whatever the fleet size.
        self.user_count = _DIRECTORY_USERS

    def _build_devices(self, rng: random.Random) -> None:
        spec = self.spec
        mix = spec.platform_mix
        total = sum(mix)
        cumulative = list(itertools.accumulate(w / total for w in mix))
        bp_weights = {
            code: list(itertools.accumulate(bp.weight for bp in bps))
            for code, bps in self._blueprints_for_platform.items()
        }
        for i in range(spec.devices):
            r = rng.random()
            code = next((c for c, edge in enumerate(cumulative) if r < edge), MAC)
            bps = self._blueprints_for_platform[code]
            weights = bp_weights[code]
            r = rng.random() * weights[-1]
            bp = bps[next((k for k, edge in enumerate(weights) if r < edge), 0)]
            self._platform[i] = code
            self._blueprint[i] = bp.index
            self._flags[i] = initial_flags(spec, rng, code)
            r = rng.random()
            if r < spec.never_checked_in_rate:
                self._pinned[i] = _NEVER
                self._silent.add(i)
            elif r < spec.never_checked_in_rate + spec.silent_rate:
                self._pinned[i] = self._epoch - rng.uniform(8, 60) * 86400
                self._silent.add(i)
        self._rebuild_membership()


    def _reset_to_pending(self, i: int) -> None:
        """A device that never reported has every item and parameter pending."""
        for item, statuses in zip(self.items, self._item_status, strict=True):
            statuses[i] = _PPENDING if item.is_profile else _PENDING
        for statuses in self._param_status:
            statuses[i] = _P_PENDING

    def _rebuild_membership(self) -> None:
        members: list[array[int]] = [array("I") for _ in self.blueprints]
        alive = array("I")
        for i in range(len(self._platform)):
            if self._flags[i] & _GONE:
                continue
            alive.append(i)
            members[self._blueprint[i]].append(i)
        self._members = members
        self._alive = alive
        self._generation += 1

    # --- ids --------------------------------------------------------------------------

    def _mask(self, kind: str) -> int:
        mask = self._masks.get(kind)
        if mask is None:
            digest = hashlib.blake2b(f"{self._seed}|mask|{kind}".encode(), digest_size=6).digest()
            mask = self._masks[kind] = int.from_bytes(digest, "big")
        return mask

    def _indexed_uuid(self, kind: str, index: int) -> str:
        """A random-looking UUID4 whose low 48 bits encode ``index`` (scrambled)."""
        digest = hashlib.blake2b(f"{self._seed}|{kind}|{index}".encode(), digest_size=10).digest()
        low = (index * _SCRAMBLE + self._mask(kind)) & _MASK48
        value = (int.from_bytes(digest, "big") << 48) | low
        return str(uuid.UUID(int=value, version=4))

    def _index_of(self, kind: str, value: str) -> int | None:
        try:
            parsed = uuid.UUID(value)
        except (ValueError, AttributeError, TypeError):
            return None
        index = (((parsed.int & _MASK48) - self._mask(kind)) * _UNSCRAMBLE) & _MASK48
        if self._indexed_uuid(kind, index) != str(parsed) or str(parsed) != value.lower():
            return None
        return index

    def device_index(self, device_id: str) -> int | None:
        """The index of a live device, or None for an unknown or deleted id."""
        index = self._index_of("device", device_id)
        if index is None or index >= len(self._platform) or self._flags[index] & _GONE:
            return None
        return index

    def require(self, device_id: str) -> int:
        """The index of a live device; :class:`UnknownDeviceError` if there is none."""
        return known(self.device_index(device_id), "device", device_id, UnknownDeviceError)

    def device_id(self, index: int) -> str:
        """The UUID of the device at ``index``."""
        return self._indexed_uuid("device", index)

    def item(self, item_id: str) -> LibraryItem | None:
        """A library item by id."""
        return self._item_by_id.get(item_id)

    def blueprint(self, blueprint_id: str) -> Blueprint | None:
        """A blueprint by id."""
        return self._blueprint_by_id.get(blueprint_id)

    def parameter(self, parameter_id: str) -> Parameter | None:
        """A parameter by id."""
        return self._param_by_id.get(parameter_id)

    def _require_item(self, item_id: str) -> LibraryItem:
        return known(self.item(item_id), "library item", item_id)

    def _require_parameter(self, parameter_id: str) -> Parameter:
        return known(self.parameter(parameter_id), "parameter", parameter_id)

    def user(self, index: int) -> SimUser:
        """The directory user at ``index`` (derived, not stored)."""
        dna = self._dna("user", index)
        first = catalog.FIRST_NAMES[dna[0] % len(catalog.FIRST_NAMES)]
        last = catalog.LAST_NAMES[dna[1] % len(catalog.LAST_NAMES)]
        username = f"{first}.{last}{index}".lower()
        return SimUser(
            index=index,
            id=self._indexed_uuid("user", index),
            name=f"{first} {last}",
            email=f"{username}@{catalog.EMAIL_DOMAIN}",
            username=username,
            is_archived=dna[2] < 3,
        )

    def user_by_id(self, user_id: str) -> SimUser | None:
        """A directory user by id."""
        index = self._index_of("user", user_id)
        if index is None or index >= self.user_count:
            return None
        return self.user(index)

    # --- reading devices --------------------------------------------------------------

    def _dna(self, kind: str, index: int) -> bytes:
        return hashlib.blake2b(f"{self._seed}|dna|{kind}|{index}".encode(), digest_size=64).digest()

    @property
    def device_count(self) -> int:
        """How many live devices the tenant has."""
        return len(self._alive)

    def device_indices(self) -> Sequence[int]:
        """Indices of live devices, in listing order."""
        return self._alive

    def now(self) -> datetime:
        """The fleet's current time (from its clock)."""
        return self.clock.now()

    def _last_check_in_ts(self, i: int, now_ts: float) -> float:
        pinned = self._pinned[i]
        if not math.isnan(pinned):
            return pinned
        dna = self._dna("device", i)
        interval = _CHECK_IN_INTERVAL[self._platform[i]]
        phase = int.from_bytes(dna[21:25], "big") / 2**32 * interval
        scheduled = now_ts - ((now_ts - phase) % interval)
        return max(scheduled, self._seen[i], self._enrolled_ts(i, dna))

    def _enrolled_ts(self, i: int, dna: bytes) -> float:
        added = self._enrolled_at.get(i)
        if added is not None:
            return added
        days = 10 + int.from_bytes(dna[25:27], "big") % 900
        seconds = int.from_bytes(dna[27:31], "big") % 86_400_000_000 / 1_000_000
        return self._epoch - days * 86400 - seconds

    def device(self, i: int) -> SimDevice:
        """Materialise the device at index ``i`` as of the clock's now."""
        now_ts = _ts(self.clock.now())
        dna = self._dna("device", i)
        code = self._platform[i]
        flags = self._flags[i]
        models = [h for h in catalog.HARDWARE if h.platform == code]
        hardware = models[dna[11] % len(models)]
        builds = catalog.OS_BUILDS[code]
        os_version, build = builds[min(len(builds) - 1, dna[12] % (len(builds) + 2))]
        over = self._overrides.get(i)
        user = self._device_user(i, dna, flags, over)
        default_user = None if flags & _NO_USER else self.user(self._user_index(dna))
        enrolled = self._enrolled_ts(i, dna)
        last = self._last_check_in_ts(i, now_ts)
        re_enrolled = enrolled
        if dna[40] < 60 and i not in self._enrolled_at:
            # Some devices re-enrolled later; never after their last check-in.
            latest = self._epoch - 3600 if last == _NEVER else min(self._epoch - 3600, last)
            span = max(0.0, latest - enrolled)
            re_enrolled = enrolled + int.from_bytes(dna[41:44], "big") / 2**24 * span
        last_check_in = None if last == _NEVER else _dt(last)
        mdm_last = None
        if last_check_in is not None:
            offset = int.from_bytes(dna[44:46], "big") % 7200
            mdm_last = _dt(max(last - offset, enrolled))
        missing_after = self.spec.missing_after_days * 86400
        agent = code == MAC and not flags & _NO_AGENT
        bp = self.blueprints[self._blueprint[i]]
        enrolled_bp = self._blueprints_for_platform[code][0] if dna[46] < 40 else bp
        if code not in enrolled_bp.platforms:
            enrolled_bp = bp
        first_name = default_user.name.split()[0] if default_user else ""
        name = device_name(i, code, hardware, first_name, dna)
        username = default_user.username if default_user else "admin"
        asset_tag = f"IT-{i:06d}" if dna[30] < 50 else ""
        tags: tuple[str, ...] = ()
        if dna[31] < 120:
            tags = (catalog.TAG_NAMES[dna[31] % len(catalog.TAG_NAMES)],)
        if dna[31] < 30:
            tags += (catalog.TAG_NAMES[(dna[31] + 3) % len(catalog.TAG_NAMES)],)
        if over is not None:
            if over.asset_tag is not None:
                asset_tag = over.asset_tag
            if over.tags is not None:
                tags = over.tags
        lost = None
        if flags & _LOST:
            lost = self._lost_info.get(i) or default_lost_mode(self._epoch, enrolled, dna)
        return SimDevice(
            index=i,
            id=self.device_id(i),
            name=name,
            platform_code=code,
            hardware=hardware,
            serial_number=_serial(dna[13:21], 12 if code in MOBILE else 10),
            os_version=os_version,
            build=build,
            user=user,
            asset_tag=asset_tag,
            tags=tags,
            blueprint=bp,
            enrolled_blueprint=enrolled_bp,
            first_enrollment=_dt(enrolled),
            last_enrollment=_dt(re_enrolled),
            last_check_in=last_check_in,
            mdm_check_in=mdm_last,
            mdm_enabled=not flags & _NO_MDM,
            agent_installed=agent,
            agent_version=(
                catalog.AGENT_VERSIONS[dna[36] % len(catalog.AGENT_VERSIONS)] if agent else ""
            ),
            agent_install_date=_dt(enrolled + 40 + dna[47]) if agent else None,
            is_missing=last == _NEVER or now_ts - last > missing_after,
            is_removed=bool(flags & _REMOVED),
            filevault_enabled=(not flags & _FV_OFF) if code == MAC else None,
            lost_mode=lost,
            ade=bool(flags & _ADE),
            udid=str(uuid.UUID(bytes=dna[48:64], version=4)),
            mac_address=":".join(f"{b:02x}" for b in dna[37:43]),
            ip_address=f"10.{dna[43] % 64}.{dna[44]}.{dna[45] % 254 + 1}",
            hostname=_HOSTNAME_JUNK.sub("", name.replace(" ", "-")),
            local_username=username,
            remote_desktop=dna[46] < 30,
            recovery_lock=dna[47] < 180,
            boot_time=_dt(now_ts - 3600 - int.from_bytes(dna[50:53], "big") % (30 * 86400)),
            dna=dna,
        )

    def _user_index(self, dna: bytes) -> int:
        return int.from_bytes(dna[32:36], "big") % self.user_count

    def _device_user(
        self, i: int, dna: bytes, flags: int, over: _Overrides | None
    ) -> SimUser | None:
        if over is not None and over.user is not False:
            return None if over.user is None else self.user(int(over.user))
        if flags & _NO_USER:
            return None
        return self.user(self._user_index(dna))
