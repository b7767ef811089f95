"""The records of a simulated Kandji tenant, and the compact codes the fleet stores.

Public: :class:`FleetSpec` (the knobs), the frozen records a fleet hands out
(:class:`SimDevice`, :class:`LibraryItem`, :class:`Blueprint`, :class:`ItemState`...),
the status vocabularies (:data:`ITEM_STATUSES`, :data:`PARAMETER_STATUSES`) and the
errors of the write hooks. The underscored names (one-byte status codes, per-device flag
bits, id scrambling constants, derivation helpers) are shared by the fleet's modules
(:mod:`.state`, :mod:`.reads`, :mod:`.writes`, :mod:`.fleet`) and by nothing else.
"""

from __future__ import annotations

import math
import re
from array import array
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from monitor.simulator.kandji import catalog
from monitor.simulator.kandji.catalog import APPLETV, IPAD, IPHONE, MAC, PLATFORMS, HardwareModel
from monitor.sources.kandji import models as documented

# --- status codes ---------------------------------------------------------------------

ITEM_STATUSES: Final[tuple[str, ...]] = ("", *documented.LIBRARY_ITEM_STATUSES)
"""Library item statuses by one-byte code, 0 for no status recorded: the documented
ones (API-NOTES §3.1), as the Kandji source lists them. The lower-case trio is for
configuration profiles only."""

PROFILE_STATUSES: Final = frozenset(documented.PROFILE_STATUSES)
PARAMETER_STATUSES: Final[tuple[str, ...]] = ("", *documented.PARAMETER_STATUSES)
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Blueprint(catalog.BlueprintSpec):
    """One blueprint of the tenant: its spec (name, type, platforms, icon...) and the
    library items and parameters it assigns."""

    index: int
    id: str
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


def device_name(i: int, code: int, hw: HardwareModel, first: str, dna: bytes) -> str:
    """A device's derived name: a room TV, a numbered model, or "First's Model"."""
    if code == APPLETV:
        return f"{catalog.ROOMS[dna[10] % len(catalog.ROOMS)]} Room TV {i % 97}"
    short = hw.model.split(" (")[0]
    if code == IPAD and not first:
        return f"Shared iPad {i:05d}"
    if not first:
        return f"{short} {i:05d}"
    return f"{first}{_APOSTROPHE}s {short}"


def default_lost_mode(epoch: float, enrolled: float, dna: bytes) -> LostMode:
    """The Lost Mode details of a device seeded lost."""
    at = max(enrolled + 86400, epoch - 86400 * (1 + dna[54] % 20))
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
