"""Pydantic models of the Kandji (Iru) API responses the monitor reads.

Tolerant by design (see the API notes, section 2.5): unknown keys are kept
(``extra="allow"``), every field has a default, and values come in many shapes:

- timestamps in at least five formats (ISO ``Z``, ``str(datetime)`` with an offset,
  ``2024-05-13 20:09:23 +0000``, naive, ``Feb 27, 2024 at 7:34:21 AM``); ``""`` and
  unparseable values become ``None``. Naive values are taken as UTC;
- booleans as ``"True"``/``"False"``/``"Yes"``/``"No"``/``""`` strings;
- ``user`` as an object, ``""`` or ``null``; numbers as strings and ids as ints or UUIDs;
- ``{}`` for "not applicable" sections, ``null`` for empty lists.

Status values are kept exactly as the API reports them (case matters: configuration
profiles report ``success``/``pending``/``failed`` in lower case). Unknown values are
kept, never rejected; :func:`is_known_library_item_status` and
:func:`is_known_parameter_status` tell which ones the documentation lists.

Model names start with ``K`` to keep them apart from :mod:`monitor.models`.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from monitor.sources.lenient import (
    AnyDict,
    Bool,
    Int,
    Items,
    OptionalSection,
    OptStr,
    Section,
    Str,
    StrList,
    Timestamp,
    object_items,
    section_field,
)

# --------------------------------------------------------------------------- statuses

PROFILE_STATUSES: tuple[str, ...] = ("success", "pending", "failed")
"""The library item statuses of configuration profiles only (lower case)."""

LIBRARY_ITEM_STATUSES: tuple[str, ...] = (
    "PASS", "ERROR", "INCOMPATIBLE", "PENDING", "EXCLUDED",
    "AVAILABLE", "CACHED", "DOWNLOADING", "INSTALLING", "CHANGE_PENDING",
    *PROFILE_STATUSES,
)
"""The thirteen library item statuses the API documents (section 3.1)."""

PARAMETER_STATUSES: tuple[str, ...] = (
    "PASS", "ERROR", "WARNING", "REMEDIATED", "INCOMPATIBLE", "PENDING"
)
"""The six parameter statuses the API documents (section 3.2)."""

KNOWN_LIBRARY_ITEM_STATUSES: frozenset[str] = frozenset(LIBRARY_ITEM_STATUSES)
KNOWN_PARAMETER_STATUSES: frozenset[str] = frozenset(PARAMETER_STATUSES)

LOST_MODE_ENABLED = "ENABLED"


def is_known_library_item_status(status: str) -> bool:
    """True when ``status`` is one of the documented library item statuses (exact case)."""
    return status in KNOWN_LIBRARY_ITEM_STATUSES


def is_known_parameter_status(status: str) -> bool:
    """True when ``status`` is one of the documented parameter statuses (exact case)."""
    return status in KNOWN_PARAMETER_STATUSES


class KModel(BaseModel):
    """Base of every vendor model: extra keys kept, names as the API spells them."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


# --------------------------------------------------------------------------- shared bits


class KUser(KModel):
    """A user assigned to a device (``id`` was an integer before 2025, a UUID since)."""

    email: Str = ""
    name: Str = ""
    id: Str = ""
    is_archived: Bool = None


def _to_user(value: object) -> dict[str, Any] | None:
    """``user`` is an object, ``""`` or ``null``; only an object is a user."""
    return value if isinstance(value, dict) and value else None


User = Annotated[KUser | None, BeforeValidator(_to_user)]


class KRef(KModel):
    """A reference to another object: ``{id, name}`` (sometimes ``is_removed``)."""

    id: Str = ""
    name: Str = ""
    is_removed: Bool = None


Ref = Annotated[KRef | None, OptionalSection]

ItemT = TypeVar("ItemT")


class KPage(KModel, Generic[ItemT]):
    """A Django REST Framework page: ``{count, next, previous, results}``."""

    count: Int = None
    next: OptStr = None
    previous: OptStr = None
    results: Annotated[list[ItemT], Items] = Field(default_factory=list)


# --------------------------------------------------------------------------- devices


class KDeviceFacts(KModel):
    """What a device record (``GET /devices``) and its ``details.general`` section both
    say about a device, under the same keys."""

    device_id: Str = ""
    device_name: Str = ""
    model: Str = ""
    serial_number: Str = ""
    platform: Str = ""
    os_version: Str = ""
    supplemental_build_version: Str = ""
    supplemental_os_version_extra: Str = ""
    asset_tag: Str = ""
    blueprint_name: Str = ""
    first_enrollment: Timestamp = None
    last_enrollment: Timestamp = None
    # Android
    api_level: Str = ""
    security_patch_level: Str = ""


class KDevice(KDeviceFacts):
    """A device record: ``GET /devices`` (each element), ``GET /devices/{id}``, PATCH answer."""

    last_check_in: Timestamp = None
    user: User = None
    blueprint_id: Str = ""
    mdm_enabled: Bool = None
    agent_installed: Bool = None
    is_missing: Bool = None
    is_removed: Bool = None
    agent_version: Str = ""
    lost_mode_status: Str = ""
    tags: StrList = Field(default_factory=list)
    # Present on every record once Windows or Android management is on in a tenant.
    full_software_version: Str = ""

    @property
    def in_lost_mode(self) -> bool:
        """True when the record says Lost Mode is on."""
        return self.lost_mode_status.upper() == LOST_MODE_ENABLED


def parse_device_list(body: object) -> list[KDevice]:
    """The body of ``GET /devices``: a bare list (or, per a doc slip, one lone object)."""
    return [KDevice.model_validate(d) for d in object_items(body)]


# --------------------------------------------------------------------------- status rows


class KEdrStatus(KModel):
    """The ``edr_status`` of an EDR (``threat-security-policy``) library item."""

    status: Str = ""
    malware_posture: Str = ""
    pup_posture: Str = ""
    # Human-readable dates ("Feb 27, 2024 at 7:34:21 AM"), kept as text.
    last_baseline_scan: Str = ""
    next_baseline_scan: Str = ""
    baseline_scan_runtime: Str = ""


class KItemRun(KModel):
    """What a library item row says about the item's runs on one device; the rows of
    ``/devices/{id}/status`` and of an item's fleet-wide status both carry it."""

    id: Int = None
    status: Str = ""
    type: Str = ""
    reported_at: Timestamp = None
    log: OptStr = None
    last_audit_run: Timestamp = None
    last_audit_log: OptStr = None
    control_log: OptStr = None
    control_reported_at: Timestamp = None
    computer: Ref = None
    blueprint: Ref = None
    edr_status: Annotated[KEdrStatus | None, OptionalSection] = None

    @property
    def status_known(self) -> bool:
        """True when ``status`` is a documented library item status."""
        return is_known_library_item_status(self.status)


class KDeviceLibraryItem(KItemRun):
    """A library item's state on one device (``/status`` and ``/library-items`` rows)."""

    item_id: Str = ""
    name: Str = ""
    rules_present: Bool = None


class KParameter(KModel):
    """A parameter's state on one Mac (``/status`` and ``/parameters`` rows)."""

    item_id: Str = ""
    name: Str = ""
    status: Str = ""
    category: Str = ""
    subcategory: Str = ""

    @property
    def status_known(self) -> bool:
        """True when ``status`` is a documented parameter status."""
        return is_known_parameter_status(self.status)


class KDeviceAnswer(KModel):
    """An answer about one device (``/devices/{id}/...``): it names the device."""

    device_id: Str = ""


class KDeviceLibraryItems(KDeviceAnswer):
    """``GET /devices/{id}/library-items``."""

    library_items: Annotated[list[KDeviceLibraryItem], Items] = Field(default_factory=list)


class KDeviceParameters(KDeviceAnswer):
    """``GET /devices/{id}/parameters`` (macOS only)."""

    parameters: Annotated[list[KParameter], Items] = Field(default_factory=list)


class KDeviceStatus(KDeviceLibraryItems, KDeviceParameters):
    """``GET /devices/{id}/status``: library items and parameters together."""


# --------------------------------------------------------------------------- apps


class KAppleAppKeys(KModel):
    """The keys of an app row from a Mac, an iPhone or an iPad."""

    app_id: Str = ""
    app_name: Str = ""
    bundle_id: Str = ""
    bundle_size: Str = ""
    app_store_vendable: Bool = None
    device_based_vpp: Bool = None
    source: Str = ""
    process: Str = ""
    signature: Str = ""
    creation_date: Timestamp = None
    modification_date: Timestamp = None
    path: Str = ""
    version: Str = ""


class KWindowsAppKeys(KModel):
    """The keys of an app row from a Windows PC."""

    name: Str = ""
    display_name: Str = ""
    publisher: Str = ""
    publisher_display_name: Str = ""
    product_code: Str = ""
    architecture: Str = ""
    installed_path: Str = ""
    application_type: Str = ""


class KAndroidAppKeys(KModel):
    """The keys of an app row from an Android device."""

    package_name: Str = ""
    version_name: Str = ""
    application_source: Str = ""
    installer_package_name: Str = ""
    sha256_hash: Str = ""
    sha1_hashes: StrList = Field(default_factory=list)


class KApp(KAppleAppKeys, KWindowsAppKeys, KAndroidAppKeys):
    """One installed app; Apple, Windows and Android rows have different keys (a row
    carries one family's)."""

    @property
    def family(self) -> str:
        """``apple``, ``windows`` or ``android``, from the keys the row carries."""
        if self.package_name or self.application_source:
            return "android"
        if self.application_type or self.publisher or self.installed_path:
            return "windows"
        return "apple"

    @property
    def identifier(self) -> str:
        """A stable id: bundle id, package name, Windows package name, else the name."""
        return (
            self.bundle_id
            or self.package_name
            or self.name
            or self.product_code
            or self.app_name
            or self.display_name
            or self.app_id
        )

    @property
    def label(self) -> str:
        """A human name for the app."""
        return self.app_name or self.display_name or self.name or self.identifier

    @property
    def app_version(self) -> str:
        """The installed version, whichever key carries it."""
        return self.version or self.version_name


class KDeviceApps(KDeviceAnswer):
    """``GET /devices/{id}/apps``: the whole inventory, one response."""

    apps: Annotated[list[KApp], Items] = Field(default_factory=list)


# --------------------------------------------------------------------------- activity


class KActivityEntry(KModel):
    """One device activity entry; ``details`` is free-form per ``action_type``."""

    id: Int = None
    created_at: Timestamp = None
    action_type: Str = ""
    details: Any = None
    computer: Ref = None
    blueprint: Ref = None
    user: Any = None
    external_token: Any = None
    blueprint_routing: Bool = None


class KDeviceActivity(KDeviceAnswer):
    """``GET /devices/{id}/activity``: a DRF page nested under ``activity``."""

    activity: Annotated[KPage[KActivityEntry], Section] = section_field(KPage[KActivityEntry])


# --------------------------------------------------------------------------- blueprints


class KEnrollmentCode(KModel):
    """A blueprint's manual enrollment code."""

    code: Str = ""
    is_active: Bool = None


class KBlueprint(KModel):
    """One blueprint of ``GET /blueprints``."""

    id: Str = ""
    name: Str = ""
    icon: Str = ""
    color: Str = ""
    description: Str = ""
    params: AnyDict = Field(default_factory=dict)
    computers_count: Int = None
    enrollment_code: Annotated[KEnrollmentCode | None, OptionalSection] = None
    type: Str = ""


class KBlueprintLibraryItem(KModel):
    """One library item of ``GET /blueprints/{id}/list-library-items``."""

    id: Str = ""
    name: Str = ""


class KLibraryItemStatusRow(KItemRun):
    """One row of ``GET /library/library-items/{id}/status``: that item on one device."""

    @property
    def device_id(self) -> str:
        """The device this row is about."""
        return self.computer.id if self.computer is not None else ""


__all__ = [
    "KNOWN_LIBRARY_ITEM_STATUSES",
    "KNOWN_PARAMETER_STATUSES",
    "LOST_MODE_ENABLED",
    "KActivityEntry",
    "KAndroidAppKeys",
    "KApp",
    "KAppleAppKeys",
    "KBlueprint",
    "KBlueprintLibraryItem",
    "KDevice",
    "KDeviceActivity",
    "KDeviceAnswer",
    "KDeviceApps",
    "KDeviceFacts",
    "KDeviceLibraryItem",
    "KDeviceLibraryItems",
    "KDeviceParameters",
    "KDeviceStatus",
    "KEdrStatus",
    "KEnrollmentCode",
    "KItemRun",
    "KLibraryItemStatusRow",
    "KModel",
    "KPage",
    "KParameter",
    "KRef",
    "KUser",
    "KWindowsAppKeys",
    "is_known_library_item_status",
    "is_known_parameter_status",
    "parse_device_list",
]
