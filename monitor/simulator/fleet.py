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

import hashlib
import heapq
import itertools
import math
import random
import re
import uuid
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from monitor.clock import Clock
from monitor.simulator import catalog
from monitor.simulator.catalog import (
    APPLETV,
    IPAD,
    IPHONE,
    MAC,
    MOBILE,
    PLATFORMS,
    HardwareModel,
)

# --- status codes ---------------------------------------------------------------------

ITEM_STATUSES: Final[tuple[str, ...]] = (
    "",  # 0: no status recorded
    "PASS",
    "ERROR",
    "INCOMPATIBLE",
    "PENDING",
    "EXCLUDED",
    "AVAILABLE",
    "CACHED",
    "DOWNLOADING",
    "INSTALLING",
    "CHANGE_PENDING",
    "success",
    "pending",
    "failed",
)
"""Library item statuses by one-byte code (API-NOTES §3.1). The lower-case trio is for
configuration profiles only."""

PROFILE_STATUSES: Final = frozenset({"success", "pending", "failed"})
PARAMETER_STATUSES: Final[tuple[str, ...]] = (
    "",
    "PASS",
    "ERROR",
    "WARNING",
    "REMEDIATED",
    "INCOMPATIBLE",
    "PENDING",
)
"""macOS parameter statuses by one-byte code (API-NOTES §3.2)."""

_ITEM_CODE: Final = {name: code for code, name in enumerate(ITEM_STATUSES) if name}
_PARAM_CODE: Final = {name: code for code, name in enumerate(PARAMETER_STATUSES) if name}
_PASS, _ERROR = _ITEM_CODE["PASS"], _ITEM_CODE["ERROR"]
_PENDING, _AVAILABLE = _ITEM_CODE["PENDING"], _ITEM_CODE["AVAILABLE"]
_SUCCESS, _PFAILED, _PPENDING = _ITEM_CODE["success"], _ITEM_CODE["failed"], _ITEM_CODE["pending"]
_P_PASS, _P_ERROR, _P_WARNING = _PARAM_CODE["PASS"], _PARAM_CODE["ERROR"], _PARAM_CODE["WARNING"]
_P_REMEDIATED, _P_PENDING = _PARAM_CODE["REMEDIATED"], _PARAM_CODE["PENDING"]

# Statuses that have no report yet, so their reported_at is null.
_UNREPORTED: Final = frozenset({_PENDING, _PPENDING, 0})

# --- per-device flag bits -------------------------------------------------------------

_GONE: Final = 1  # deleted from the tenant
_FV_OFF: Final = 2  # FileVault off (Macs)
_LOST: Final = 4  # Lost Mode enabled (iPhone, iPad)
_NO_USER: Final = 8  # no user assigned (unless overridden)
_NO_AGENT: Final = 16  # Mac without the Kandji agent
_NO_MDM: Final = 32  # MDM profile removed
_REMOVED: Final = 64  # Kandji's is_removed flag
_ADE: Final = 128  # enrolled through Automated Device Enrollment

# Seconds between scheduled check-ins, per platform code.
_CHECK_IN_INTERVAL: Final = {MAC: 900.0, IPHONE: 4 * 3600.0, IPAD: 4 * 3600.0, APPLETV: 8 * 3600.0}
_NEVER: Final = -math.inf
_ROW_STRIDE: Final = 10_000_000  # per-item stride of library-item status row ids
_EVENT_STRIDE: Final = 32  # generated activity ids per device
_MASK48: Final = (1 << 48) - 1
_DIRECTORY_USERS: Final = 50_000
# An odd multiplier is a bijection modulo 2**48: ids look random, yet carry their index.
_SCRAMBLE: Final = 0x9E3779B97F4B
_UNSCRAMBLE: Final = pow(_SCRAMBLE, -1, 1 << 48)


class FieldError(ValueError):
    """A write was rejected; ``field`` names the offending input (DRF field-error style)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


class UnknownDeviceError(KeyError):
    """No device with that id exists in the fleet."""


@dataclass(frozen=True, slots=True)
class FleetSpec:
    """The knobs of a simulated fleet.

    Rates are fractions of the relevant population; ``*_per_hour`` rates are
    probabilities per (device, item) pair per hour of simulated time, applied by
    :meth:`Fleet.advance`. The defaults keep the share of failing items near
    ``item_failure_rate`` as time passes (failures and recoveries balance).
    """

    devices: int = 200
    seed: int = 1
    library_items: int = 60
    items_per_blueprint: int = 40
    parameters: int = 24
    parameters_per_blueprint: int = 16
    platform_mix: tuple[float, float, float, float] = (0.62, 0.2, 0.14, 0.04)
    item_failure_rate: float = 0.02
    parameter_failure_rate: float = 0.03
    silent_rate: float = 0.01
    never_checked_in_rate: float = 0.002
    filevault_off_rate: float = 0.03
    lost_mode_rate: float = 0.01
    unassigned_rate: float = 0.15
    missing_after_days: float = 30.0
    fail_per_hour: float = 0.007
    recover_per_hour: float = 0.25
    silence_per_hour: float = 0.0002
    return_per_hour: float = 0.05

    def __post_init__(self) -> None:
        if self.devices < 0:
            raise ValueError("devices must be >= 0")
        if self.library_items < 1:
            raise ValueError("library_items must be >= 1")
        if not 0 <= self.parameters <= len(catalog.PARAMETERS):
            raise ValueError(f"parameters must be between 0 and {len(catalog.PARAMETERS)}")


@dataclass(frozen=True, slots=True)
class LibraryItem:
    """One library item of the tenant."""

    index: int
    id: str
    name: str
    type: str
    platforms: frozenset[int]
    self_service: bool
    identifier: str
    rules_present: bool

    @property
    def is_profile(self) -> bool:
        """Configuration profiles report lower-case statuses."""
        return self.type == "profile"


@dataclass(frozen=True, slots=True)
class Parameter:
    """One macOS parameter enabled in at least one blueprint."""

    index: int
    id: str
    name: str
    category: str
    subcategory: str


@dataclass(frozen=True, slots=True)
class Blueprint:
    """One blueprint: the library items and parameters it assigns."""

    index: int
    id: str
    name: str
    type: str
    icon: str
    color: str
    description: str
    platforms: frozenset[int]
    enrollment_code: str
    item_indices: tuple[int, ...]
    param_indices: tuple[int, ...]
    muted_params: frozenset[int]


@dataclass(frozen=True, slots=True)
class SimUser:
    """A directory user that can be assigned to devices."""

    index: int
    id: str
    name: str
    email: str
    username: str
    is_archived: bool


@dataclass(frozen=True, slots=True)
class LostMode:
    """Lost Mode details of a device that has it enabled."""

    enabled_by: str
    enabled_at: datetime
    message: str
    phone: str
    footnote: str
    located_at: datetime
    latitude: str
    longitude: str
    sound_at: datetime | None


@dataclass(frozen=True, slots=True)
class SimDevice:
    """Everything about one device at one instant, derived on demand."""

    index: int
    id: str
    name: str
    platform_code: int
    hardware: HardwareModel
    serial_number: str
    os_version: str
    build: str
    user: SimUser | None
    asset_tag: str
    tags: tuple[str, ...]
    blueprint: Blueprint
    enrolled_blueprint: Blueprint
    first_enrollment: datetime
    last_enrollment: datetime
    last_check_in: datetime | None
    mdm_check_in: datetime | None
    mdm_enabled: bool
    agent_installed: bool
    agent_version: str
    agent_install_date: datetime | None
    is_missing: bool
    is_removed: bool
    filevault_enabled: bool | None
    lost_mode: LostMode | None
    ade: bool
    udid: str
    mac_address: str
    ip_address: str
    hostname: str
    local_username: str
    remote_desktop: bool
    recovery_lock: bool
    boot_time: datetime
    dna: bytes

    @property
    def platform(self) -> str:
        """Kandji's platform string (Mac, iPhone, iPad, AppleTV)."""
        return PLATFORMS[self.platform_code]


@dataclass(frozen=True, slots=True)
class ItemState:
    """One library item's state on one device."""

    item: LibraryItem
    status: str
    reported_at: datetime | None
    row_id: int


@dataclass(frozen=True, slots=True)
class ParameterState:
    """One parameter's state on one Mac."""

    parameter: Parameter
    status: str


@dataclass(frozen=True, slots=True)
class Change:
    """One state change made by :meth:`Fleet.advance` or a scheduled change."""

    device_id: str
    kind: str  # library_item | parameter | silent | returned
    subject_id: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Command:
    """An MDM command recorded for a device."""

    uuid: str
    command_type: str
    request_type: str
    status: int  # 1 pending, 2 running, 3 completed, 4 failed, 5 NotNow
    requested_at: datetime
    completed_at: datetime | None
    error_chain: tuple[dict[str, object], ...] = ()


@dataclass(frozen=True, slots=True)
class ActivityEvent:
    """One entry of a device's activity feed."""

    id: int
    created_at: datetime
    action_type: str
    details: dict[str, object]
    blueprint: Blueprint | None


@dataclass(frozen=True, slots=True)
class DemoPlan:
    """What :meth:`Fleet.plant_demo_failures` broke and when it will be repaired."""

    item_id: str
    item_name: str
    device_ids: tuple[str, ...]
    repair_at: datetime


@dataclass(slots=True)
class _Overrides:
    """Fields set through PATCH or test hooks, for one device."""

    user: int | bool | None = False  # False: not overridden; None: cleared
    asset_tag: str | None = None
    tags: tuple[str, ...] | None = None


@dataclass(order=True, slots=True)
class _Scheduled:
    when: float
    seq: int
    kind: str = field(compare=False)  # item | parameter
    device: int = field(compare=False)
    subject: int = field(compare=False)
    code: int = field(compare=False)


_UNSET: Final = object()


def _ts(dt: datetime) -> float:
    return dt.timestamp()


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class Fleet:
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
        self._scheduled: list[_Scheduled] = []
        self._seq = itertools.count()
        self._event_ids = itertools.count(10_000_000_000)
        self._generation = 0
        self._scope_cache: dict[tuple[frozenset[int], frozenset[int]], array[int]] = {}
        self._scope_generation = -1
        self._select_cache: dict[tuple[object, ...], array[int]] = {}
        self._build_devices(rng)
        self._item_status = [self._initial_item_statuses(rng, item) for item in self.items]
        self._param_status = [self._initial_param_statuses(rng) for _ in self.parameters]
        for i in self._silent:
            if self._pinned[i] == _NEVER:
                self._reset_to_pending(i)
        self._evolve_rng = random.Random(f"kandji-evolve:{self._seed}")

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
                    index=b,
                    id=self._indexed_uuid("blueprint", b),
                    name=bspec.name,
                    type=bspec.type,
                    icon=bspec.icon,
                    color=bspec.color,
                    description=bspec.description,
                    platforms=bspec.platforms,
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
            code: list(itertools.accumulate(_blueprint_weight(bp) for bp in bps))
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
            self._flags[i] = self._initial_flags(rng, code)
            r = rng.random()
            if r < spec.never_checked_in_rate:
                self._pinned[i] = _NEVER
                self._silent.add(i)
            elif r < spec.never_checked_in_rate + spec.silent_rate:
                self._pinned[i] = self._epoch - rng.uniform(8, 60) * 86400
                self._silent.add(i)
        self._rebuild_membership()

    def _initial_flags(self, rng: random.Random, code: int) -> int:
        spec = self.spec
        flags = 0
        if code == MAC:
            if rng.random() < spec.filevault_off_rate:
                flags |= _FV_OFF
            if rng.random() < 0.005:
                flags |= _NO_AGENT
        if code in MOBILE and rng.random() < spec.lost_mode_rate:
            flags |= _LOST
        if code == APPLETV or rng.random() < spec.unassigned_rate:
            flags |= _NO_USER
        if rng.random() < 0.003:
            flags |= _NO_MDM
        if rng.random() < 0.6:
            flags |= _ADE
        return flags

    def _initial_item_statuses(self, rng: random.Random, item: LibraryItem) -> bytearray:
        n = self.spec.devices
        fail = self.spec.item_failure_rate
        if item.is_profile:
            statuses = bytearray([_SUCCESS]) * n
            mix = [(_PFAILED, fail), (_PPENDING, 0.01)]
        else:
            statuses = bytearray([_PASS]) * n
            mix = [
                (_ERROR, fail),
                (_ITEM_CODE["INCOMPATIBLE"], 0.005),
                (_PENDING, 0.01),
                (_ITEM_CODE["EXCLUDED"], 0.005),
            ]
            if item.self_service:
                mix.append((_AVAILABLE, 0.3))
            if item.type in ("custom-app", "automatic-app"):
                mix += [
                    (_ITEM_CODE["CACHED"], 0.002),
                    (_ITEM_CODE["DOWNLOADING"], 0.002),
                    (_ITEM_CODE["INSTALLING"], 0.002),
                ]
        self._scatter(rng, statuses, mix)
        return statuses

    def _initial_param_statuses(self, rng: random.Random) -> bytearray:
        n = self.spec.devices
        statuses = bytearray([_P_PASS]) * n
        mix = [
            (_P_ERROR, self.spec.parameter_failure_rate),
            (_P_REMEDIATED, 0.02),
            (_PARAM_CODE["INCOMPATIBLE"], 0.01),
            (_P_PENDING, 0.01),
        ]
        self._scatter(rng, statuses, mix)
        return statuses

    @staticmethod
    def _scatter(rng: random.Random, statuses: bytearray, mix: list[tuple[int, float]]) -> None:
        """Set a share of the slots to each code in ``mix``, at random positions."""
        n = len(statuses)
        total = sum(rate for _, rate in mix)
        k = min(n, round(n * total))
        if not k:
            return
        positions = rng.sample(range(n), k)
        start = 0
        for code, rate in mix:
            count = round(k * rate / total)
            for pos in positions[start : start + count]:
                statuses[pos] = code
            start += count

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
        index = self.device_index(device_id)
        if index is None:
            raise UnknownDeviceError(device_id)
        return index

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
        name = self._device_name(i, code, hardware, first_name, dna)
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
            lost = self._lost_info.get(i) or self._default_lost_mode(enrolled, dna)
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

    @staticmethod
    def _device_name(i: int, code: int, hw: HardwareModel, first: str, dna: bytes) -> str:
        if code == APPLETV:
            return f"{catalog.ROOMS[dna[10] % len(catalog.ROOMS)]} Room TV {i % 97}"
        short = hw.model.split(" (")[0]
        if code == IPAD and not first:
            return f"Shared iPad {i:05d}"
        if not first:
            return f"{short} {i:05d}"
        return f"{first}{_APOSTROPHE}s {short}"

    def _default_lost_mode(self, enrolled: float, dna: bytes) -> LostMode:
        at = max(enrolled + 86400, self._epoch - 86400 * (1 + dna[54] % 20))
        return LostMode(
            enabled_by="IT Admin",
            enabled_at=_dt(at),
            message="This device has been reported lost. Please call IT.",
            phone="+1 555 0100",
            footnote="Property of Example Corp.",
            located_at=_dt(at + 62.5),
            latitude=f"{37 + dna[55] / 255:.14f}",
            longitude=f"{-122 - dna[56] / 255:.14f}",
            sound_at=_dt(at + 150.25) if dna[57] < 128 else None,
        )

    # --- reading statuses -------------------------------------------------------------

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

    def _require_item(self, item_id: str) -> LibraryItem:
        item = self.item(item_id)
        if item is None:
            raise KeyError(f"unknown library item {item_id}")
        return item

    def _require_parameter(self, parameter_id: str) -> Parameter:
        param = self.parameter(parameter_id)
        if param is None:
            raise KeyError(f"unknown parameter {parameter_id}")
        return param

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
        self._generation += 1

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
        self._generation += 1
        return self.device_id(i)

    def remove_device(self, device_id: str) -> None:
        """Delete a device from the tenant (it disappears from every endpoint)."""
        i = self.require(device_id)
        self._flags[i] |= _GONE
        self._alive.remove(i)
        self._members[self._blueprint[i]].remove(i)
        self._silent.discard(i)
        self._generation += 1

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


def _blueprint_weight(bp: Blueprint) -> float:
    """The share of its platform's devices a blueprint receives at construction."""
    for spec in catalog.BLUEPRINTS:
        if spec.name == bp.name:
            return spec.weight
    return 1.0


def _bisect(values: array[int], x: int) -> int:
    lo, hi = 0, len(values)
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


# macOS names a Mac with a typographic apostrophe (U+2019), as in the documented examples.
_APOSTROPHE: Final = "\u2019"
_HOSTNAME_JUNK: Final = re.compile(r"[^A-Za-z0-9-]")
_SERIAL_ALPHABET: Final = "0123456789CDFGHJKLMNPQRTVWXY"


def _serial(data: bytes, length: int) -> str:
    value = int.from_bytes(data, "big")
    out = []
    for _ in range(length):
        value, r = divmod(value, len(_SERIAL_ALPHABET))
        out.append(_SERIAL_ALPHABET[r])
    return "".join(out)


def _command_details(cmd: Command) -> dict[str, object]:
    """An activity entry's ``details`` for an MDM command (newest documented shape)."""
    return {
        "user": None,
        "uuid": cmd.uuid,
        "status": cmd.status,
        "attempts": 1,
        "metadata": {"Items": ["MDMOptions"]}
        if cmd.command_type == "SetInitialConfiguration"
        else {},
        "priority": 0,
        "username": None,
        "is_silent": False,
        "skip_retry": False,
        "error_chain": list(cmd.error_chain),
        "last_pushed": (cmd.requested_at + timedelta(milliseconds=60)).isoformat(),
        "command_type": cmd.command_type,
        "profile_name": None,
        "profile_uuid": None,
        "request_type": cmd.request_type,
        "date_completed": cmd.completed_at.isoformat() if cmd.completed_at else None,
        "date_requested": cmd.requested_at.isoformat(),
        "request_requires_network_tether": False,
    }
