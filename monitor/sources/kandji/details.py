"""Pydantic models of a Kandji device's details: ``/details`` and ``/details/lostmode``.

Tolerant like :mod:`monitor.sources.kandji.models` (which they build on): a section
that is not an object parses as an empty one, lists default to empty, and every value
may come in any of the shapes the API uses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from monitor.sources.kandji.models import KDeviceAnswer, KDeviceFacts, KModel, User
from monitor.sources.lenient import (
    AnyDict,
    Bool,
    Items,
    OptionalSection,
    Section,
    Str,
    StrList,
    Timestamp,
    section_field,
)


class KDetailsGeneral(KDeviceFacts):
    """``details.general``: the device record's facts (Apple, Windows and Android share
    those keys) and more."""

    system_version: Str = ""
    boot_volume: Str = ""
    time_since_boot: Str = ""
    last_user: Str = ""
    assigned_user: User = None
    blueprint_uuid: Str = ""
    # Windows
    manufacturer: Str = ""
    device_model: Str = ""
    os_name: Str = ""
    os_build: Str = ""
    os_edition: Str = ""
    # Android
    model_name: Str = ""


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


class KLostModeDetails(KDeviceAnswer):
    """``GET /devices/{id}/details/lostmode`` (400 when the device is not in Lost Mode)."""

    lost_mode: Annotated[KLostMode, Section] = section_field(KLostMode)

    @property
    def lost_mode_status(self) -> str:
        """The Lost Mode status (``ENABLED`` when on)."""
        return self.lost_mode.lost_mode_status


__all__ = [
    "KActivationLock",
    "KAgent",
    "KAndroidManagement",
    "KAndroidSecurity",
    "KAutomatedEnrollment",
    "KDetailsGeneral",
    "KDetailsMdm",
    "KDeviceDetails",
    "KFileVault",
    "KInstalledProfile",
    "KLocalUser",
    "KLocation",
    "KLostMode",
    "KLostModeDetails",
    "KRecoveryInformation",
    "KSecurityInformation",
    "KUsers",
    "KVolume",
]
