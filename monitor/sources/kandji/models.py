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

from datetime import datetime
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

KNOWN_LIBRARY_ITEM_STATUSES: frozenset[str] = frozenset(
    {
        "PASS",
        "PENDING",
        "ERROR",
        "INCOMPATIBLE",
        "EXCLUDED",
        "AVAILABLE",
        "CACHED",
        "DOWNLOADING",
        "INSTALLING",
        "CHANGE_PENDING",
        # configuration profiles only
        "success",
        "pending",
        "failed",
    }
)
"""The thirteen library item statuses the API documents (section 3.1)."""

KNOWN_PARAMETER_STATUSES: frozenset[str] = frozenset(
    {"PASS", "PENDING", "ERROR", "WARNING", "REMEDIATED", "INCOMPATIBLE"}
)
"""The six parameter statuses the API documents (section 3.2)."""

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


class KDevice(KModel):
    """A device record: ``GET /devices`` (each element), ``GET /devices/{id}``, PATCH answer."""

    device_id: Str = ""
    device_name: Str = ""
    model: Str = ""
    serial_number: Str = ""
    platform: Str = ""
    os_version: Str = ""
    supplemental_build_version: Str = ""
    supplemental_os_version_extra: Str = ""
    last_check_in: Timestamp = None
    user: User = None
    asset_tag: Str = ""
    blueprint_id: Str = ""
    blueprint_name: Str = ""
    mdm_enabled: Bool = None
    agent_installed: Bool = None
    is_missing: Bool = None
    is_removed: Bool = None
    agent_version: Str = ""
    first_enrollment: Timestamp = None
    last_enrollment: Timestamp = None
    lost_mode_status: Str = ""
    tags: StrList = Field(default_factory=list)
    # Present on every record once Windows or Android management is on in a tenant.
    api_level: Str = ""
    security_patch_level: Str = ""
    full_software_version: Str = ""

    @property
    def in_lost_mode(self) -> bool:
        """True when the record says Lost Mode is on."""
        return self.lost_mode_status.upper() == LOST_MODE_ENABLED


def parse_device_list(body: object) -> list[KDevice]:
    """The body of ``GET /devices``: a bare list (or, per a doc slip, one lone object)."""
    return [KDevice.model_validate(d) for d in object_items(body)]


# --------------------------------------------------------------------------- details


class KDetailsGeneral(KModel):
    """``details.general`` (Apple, Windows and Android share the first keys)."""

    device_id: Str = ""
    device_name: Str = ""
    last_enrollment: Timestamp = None
    first_enrollment: Timestamp = None
    model: Str = ""
    platform: Str = ""
    os_version: Str = ""
    supplemental_build_version: Str = ""
    supplemental_os_version_extra: Str = ""
    system_version: Str = ""
    boot_volume: Str = ""
    time_since_boot: Str = ""
    last_user: Str = ""
    asset_tag: Str = ""
    assigned_user: User = None
    blueprint_name: Str = ""
    blueprint_uuid: Str = ""
    # Windows
    manufacturer: Str = ""
    device_model: Str = ""
    os_name: Str = ""
    os_build: Str = ""
    os_edition: Str = ""
    # Android
    model_name: Str = ""
    serial_number: Str = ""
    api_level: Str = ""
    security_patch_level: Str = ""


class KDetailsMdm(KModel):
    """``details.mdm``: Apple keys (string booleans) and Windows keys."""

    mdm_enabled: Bool = None
    supervised: Bool = None
    install_date: Timestamp = None
    last_check_in: Timestamp = None
    mdm_enabled_user: StrList = Field(default_factory=list)
    # Windows
    management_client_revision: Str = ""
    windows_device_id: Str = ""


class KActivationLock(KModel):
    """``details.activation_lock``."""

    bypass_code_failed: Bool = None
    user_activation_lock_enabled: Bool = None
    device_activation_lock_enabled: Bool = None
    activation_lock_allowed_while_supervised: Bool = None
    activation_lock_supported: Bool = None


class KFileVault(KModel):
    """``details.filevault``; ``filevault_enabled`` is null on iOS, iPadOS and tvOS."""

    filevault_enabled: Bool = None
    filevault_recoverykey_type: Str = ""
    filevault_prk_escrowed: Bool = None
    filevault_next_rotation: Timestamp = None
    filevault_regen_required: Bool = None


class KLocation(KModel):
    """A reported location (coordinates come as strings)."""

    latitude: Str = ""
    longitude: Str = ""


class KLostMode(KModel):
    """Lost Mode state: ``details.lost_mode`` and ``/details/lostmode`` (``{}`` when off)."""

    lost_mode_status: Str = ""
    enabled_by: Str = ""
    enable_status_at: Timestamp = None
    lock_screen_message: Str = ""
    lock_screen_phone_number: Str = ""
    lock_screen_footnote: Str = ""
    disable_status: Str = ""
    disabled_by: Str = ""
    disable_status_at: Timestamp = None
    last_location_status: Str = ""
    last_location_status_at: Timestamp = None
    last_location: Annotated[KLocation | None, OptionalSection] = None
    last_location_at: Timestamp = None
    sound_status: Str = ""
    sound_status_at: Timestamp = None


class KAutomatedEnrollment(KModel):
    """``details.automated_device_enrollment`` (``{}`` when not applicable)."""

    auto_enroll_eligible: Bool = None
    auto_enrolled: Bool = None


class KAgent(KModel):
    """``details.kandji_agent``: Apple keys (string booleans) and Windows keys."""

    agent_installed: Bool = None
    install_date: Timestamp = None
    last_check_in: Timestamp = None
    agent_version: Str = ""
    # Windows
    is_agent_installed: Bool = None
    last_check_in_datetime: Timestamp = None
    version: Str = ""

    @property
    def installed(self) -> bool | None:
        """Whether the agent is installed, whichever platform's key says it."""
        return self.agent_installed if self.agent_installed is not None else self.is_agent_installed

    @property
    def checked_in(self) -> datetime | None:
        """The agent's last check-in, whichever platform's key says it."""
        return self.last_check_in or self.last_check_in_datetime


class KVolume(KModel):
    """One entry of ``details.volumes`` (sizes are strings such as ``"228.27 GB"``)."""

    name: Str = ""
    format: Str = ""
    percent_used: Str = ""
    identifier: Str = ""
    capacity: Str = ""
    available: Str = ""
    encrypted: Bool = None


class KLocalUser(KModel):
    """A local account in ``details.users`` (``admin`` is ``"Yes"``/``"No"``)."""

    username: Str = ""
    uid: Str = ""
    path: Str = ""
    admin: Bool = None
    name: Str = ""


class KUsers(KModel):
    """``details.users``."""

    regular_users: Annotated[list[KLocalUser], Items] = Field(default_factory=list)
    system_users: Annotated[list[KLocalUser], Items] = Field(default_factory=list)


class KInstalledProfile(KModel):
    """One entry of ``details.installed_profiles``."""

    name: Str = ""
    uuid: Str = ""
    verified: Str = ""
    identifier: Str = ""
    organization: Str = ""
    payload_types: StrList = Field(default_factory=list)
    install_date: Timestamp = None


class KRecoveryInformation(KModel):
    """``details.recovery_information``."""

    recovery_lock_enabled: Bool = None
    firmware_password_exist: Bool = None
    firmware_password_pending: Bool = None
    password_rotation_scheduled: Timestamp = None


class KSecurityInformation(KModel):
    """``details.security_information``."""

    remote_desktop_enabled: Bool = None


class KAndroidManagement(KModel):
    """``details.management`` (Android)."""

    management_mode: Str = ""
    ownership: Str = ""


class KAndroidSecurity(KModel):
    """``details.security`` (Android)."""

    android_debug_bridge_enabled: Bool = None
    device_posture: Str = ""
    developer_mode_enabled: Bool = None
    encryption_status: Str = ""
    has_google_play_protect: Bool = None
    has_passcode: Bool = None
    is_encrypted: Bool = None
    unknown_app_sources_enabled: Bool = None


class KDeviceDetails(KModel):
    """``GET /devices/{id}/details``; which sections appear depends on the platform."""

    general: Annotated[KDetailsGeneral, Section] = section_field(KDetailsGeneral)
    mdm: Annotated[KDetailsMdm, Section] = section_field(KDetailsMdm)
    activation_lock: Annotated[KActivationLock, Section] = section_field(KActivationLock)
    filevault: Annotated[KFileVault, Section] = section_field(KFileVault)
    lost_mode: Annotated[KLostMode, Section] = section_field(KLostMode)
    automated_device_enrollment: Annotated[KAutomatedEnrollment, Section] = section_field(
        KAutomatedEnrollment
    )
    kandji_agent: Annotated[KAgent, Section] = section_field(KAgent)
    hardware_overview: AnyDict = Field(default_factory=dict)
    volumes: Annotated[list[KVolume], Items] = Field(default_factory=list)
    network: AnyDict = Field(default_factory=dict)
    recovery_information: Annotated[KRecoveryInformation, Section] = section_field(
        KRecoveryInformation
    )
    users: Annotated[KUsers, Section] = section_field(KUsers)
    installed_profiles: Annotated[list[KInstalledProfile], Items] = Field(default_factory=list)
    apple_business_manager: AnyDict = Field(default_factory=dict)
    security_information: Annotated[KSecurityInformation, Section] = section_field(
        KSecurityInformation
    )
    cellular: AnyDict = Field(default_factory=dict)
    tags: StrList = Field(default_factory=list)
    # Android
    hardware: AnyDict = Field(default_factory=dict)
    management: Annotated[KAndroidManagement, Section] = section_field(KAndroidManagement)
    security: Annotated[KAndroidSecurity, Section] = section_field(KAndroidSecurity)


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


class KDeviceLibraryItem(KModel):
    """A library item's state on one device (``/status`` and ``/library-items`` rows)."""

    id: Int = None
    item_id: Str = ""
    name: Str = ""
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
    rules_present: Bool = None
    edr_status: Annotated[KEdrStatus | None, OptionalSection] = None

    @property
    def status_known(self) -> bool:
        """True when ``status`` is a documented library item status."""
        return is_known_library_item_status(self.status)


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


class KDeviceStatus(KModel):
    """``GET /devices/{id}/status``: library items and parameters together."""

    device_id: Str = ""
    library_items: Annotated[list[KDeviceLibraryItem], Items] = Field(default_factory=list)
    parameters: Annotated[list[KParameter], Items] = Field(default_factory=list)


class KDeviceLibraryItems(KModel):
    """``GET /devices/{id}/library-items``."""

    device_id: Str = ""
    library_items: Annotated[list[KDeviceLibraryItem], Items] = Field(default_factory=list)


class KDeviceParameters(KModel):
    """``GET /devices/{id}/parameters`` (macOS only)."""

    device_id: Str = ""
    parameters: Annotated[list[KParameter], Items] = Field(default_factory=list)


# --------------------------------------------------------------------------- apps


class KApp(KModel):
    """One installed app; Apple, Windows and Android rows have different keys."""

    # Apple
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
    # Windows
    name: Str = ""
    display_name: Str = ""
    publisher: Str = ""
    publisher_display_name: Str = ""
    product_code: Str = ""
    architecture: Str = ""
    installed_path: Str = ""
    application_type: Str = ""
    # Android
    package_name: Str = ""
    version_name: Str = ""
    application_source: Str = ""
    installer_package_name: Str = ""
    sha256_hash: Str = ""
    sha1_hashes: StrList = Field(default_factory=list)

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


class KDeviceApps(KModel):
    """``GET /devices/{id}/apps``: the whole inventory, one response."""

    device_id: Str = ""
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


class KDeviceActivity(KModel):
    """``GET /devices/{id}/activity``: a DRF page nested under ``activity``."""

    device_id: Str = ""
    activity: Annotated[KPage[KActivityEntry], Section] = section_field(KPage[KActivityEntry])


# --------------------------------------------------------------------------- lost mode


class KLostModeDetails(KModel):
    """``GET /devices/{id}/details/lostmode`` (400 when the device is not in Lost Mode)."""

    device_id: Str = ""
    lost_mode: Annotated[KLostMode, Section] = section_field(KLostMode)

    @property
    def lost_mode_status(self) -> str:
        """The Lost Mode status (``ENABLED`` when on)."""
        return self.lost_mode.lost_mode_status


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


class KLibraryItemStatusRow(KModel):
    """One row of ``GET /library/library-items/{id}/status``: that item on one device."""

    id: Int = None
    blueprint: Ref = None
    computer: Ref = None
    status: Str = ""
    reported_at: Timestamp = None
    log: OptStr = None
    last_audit_run: Timestamp = None
    last_audit_log: OptStr = None
    control_log: OptStr = None
    control_reported_at: Timestamp = None
    edr_status: Annotated[KEdrStatus | None, OptionalSection] = None
    type: Str = ""

    @property
    def device_id(self) -> str:
        """The device this row is about."""
        return self.computer.id if self.computer is not None else ""

    @property
    def status_known(self) -> bool:
        """True when ``status`` is a documented library item status."""
        return is_known_library_item_status(self.status)


__all__ = [
    "KNOWN_LIBRARY_ITEM_STATUSES",
    "KNOWN_PARAMETER_STATUSES",
    "LOST_MODE_ENABLED",
    "KActivationLock",
    "KActivityEntry",
    "KAgent",
    "KAndroidManagement",
    "KAndroidSecurity",
    "KApp",
    "KAutomatedEnrollment",
    "KBlueprint",
    "KBlueprintLibraryItem",
    "KDetailsGeneral",
    "KDetailsMdm",
    "KDevice",
    "KDeviceActivity",
    "KDeviceApps",
    "KDeviceDetails",
    "KDeviceLibraryItem",
    "KDeviceLibraryItems",
    "KDeviceParameters",
    "KDeviceStatus",
    "KEdrStatus",
    "KEnrollmentCode",
    "KFileVault",
    "KInstalledProfile",
    "KLibraryItemStatusRow",
    "KLocalUser",
    "KLocation",
    "KLostMode",
    "KLostModeDetails",
    "KModel",
    "KPage",
    "KParameter",
    "KRecoveryInformation",
    "KRef",
    "KSecurityInformation",
    "KUser",
    "KUsers",
    "KVolume",
    "is_known_library_item_status",
    "is_known_parameter_status",
    "parse_device_list",
]
