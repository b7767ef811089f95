"""The facts a rule may name, per subject kind: their value types and where they come from.

This catalogue is the contract between the sources (which flatten vendor JSON into
:class:`~monitor.models.Device` and :class:`~monitor.models.Subject`) and the rule
files. A rule that names a field missing from it is refused at load time, so a typo
never becomes a rule that silently matches nothing.

Field paths in ``match``/``unless``:

- a bare name (``status``, ``category``, ``filevault.enabled``) is a field of the rule's
  subject; for ``subject: device`` rules the subject *is* the device;
- ``device.<field>`` is a field of the device the subject is on;
- ``subject.<field>`` names the subject explicitly.

Where a fact comes from decides what a sweep must fetch (see
:meth:`monitor.engine.RuleSet.needs`). Device facts that come from the device list
(``FactKind.DEVICE``) are free: every sweep reads the list anyway. Device facts marked
``FactKind.DETAILS`` need one ``GET /devices/{id}/details`` per Kandji device, so rules
naming them are shipped disabled.

The catalogue below is the reference: each entry names its type, the fact kind that
carries it per source kind, and (in ``doc``) the vendor field it is read from. In short,
for Kandji: ``mdm.enabled``, ``agent.installed``, ``agent.version``, ``is_missing``,
``is_removed``, ``lost_mode_status``, ``lost_mode.enabled``, ``os_build``, ``user.*``
and the enrolment dates come with the device list; ``filevault.*``, ``mdm.supervised``,
``mdm.last_check_in``, ``agent.last_check_in``, ``activation_lock.*``,
``recovery_lock.enabled``, ``firmware_password.exists``, ``remote_desktop.enabled``,
``ade.*``, ``volumes.all_encrypted``, ``users.*``, ``profiles.*``, ``windows.*``,
``android.*`` and ``disk_encryption.enabled`` need the details. Applivery reports
``compliance``, ``compliance_checked_at``, ``state``, ``sync_error``,
``os_version_name``, ``mdm.supervised``, ``refresh_info_needed``,
``last_enrollment``, ``imei``, ``policy.id``, ``policy.name``, ``config.error_count``
and ``config.errors`` in its device list.

Value conventions the sources follow: booleans are ``bool`` (``"True"``/``"False"``
strings are converted at the seam), timestamps are aware ``datetime`` values, versions
are dotted strings (``"14.4.1"``), lists are tuples of strings, and "unknown" is
``None`` (an empty string counts as unknown too). A fact a device does not report (the
FileVault state of an iPhone) is simply absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from monitor.models import FactKind, SourceKind, SubjectKind


class ValueType(StrEnum):
    """How a fact's values compare."""

    STR = "string"
    BOOL = "boolean"
    NUMBER = "number"
    VERSION = "version"
    TIMESTAMP = "timestamp"
    LIST = "list"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One nameable fact: its type, and which fact kind carries it for each source kind.

    A source kind missing from ``facts`` does not report the field.
    """

    name: str
    type: ValueType
    facts: Mapping[SourceKind, FactKind]
    doc: str = ""

    def reported_by(self, source_kind: SourceKind) -> bool:
        """True when sources of ``source_kind`` report this field."""
        return source_kind in self.facts


_K = SourceKind.KANDJI
_A = SourceKind.APPLIVERY
_BOTH = (_K, _A)


def _spec(
    name: str, type_: ValueType, fact: FactKind, sources: tuple[SourceKind, ...], doc: str = ""
) -> FieldSpec:
    return FieldSpec(name, type_, MappingProxyType(dict.fromkeys(sources, fact)), doc)


def _catalogue(*specs: FieldSpec) -> Mapping[str, FieldSpec]:
    return MappingProxyType({s.name: s for s in specs})


_D = FactKind.DEVICE
_DET = FactKind.DETAILS
S, B, N, V, T, L = (
    ValueType.STR,
    ValueType.BOOL,
    ValueType.NUMBER,
    ValueType.VERSION,
    ValueType.TIMESTAMP,
    ValueType.LIST,
)

DEVICE_FIELDS: Mapping[str, FieldSpec] = _catalogue(
    # The Device dataclass fields: every source fills them from its device list.
    _spec("source", S, _D, _BOTH, "the configured source name"),
    _spec("source_kind", S, _D, _BOTH, "kandji or applivery"),
    _spec("device_id", S, _D, _BOTH),
    _spec("name", S, _D, _BOTH),
    _spec("serial", S, _D, _BOTH),
    _spec("platform", S, _D, _BOTH, "Mac, iPhone, iPad, AppleTV, Windows, Android"),
    _spec("model", S, _D, _BOTH),
    _spec("os_version", V, _D, _BOTH),
    _spec("blueprint_id", S, _D, _BOTH),
    _spec("blueprint_name", S, _D, _BOTH, "Kandji blueprint; Applivery policy"),
    _spec("user_email", S, _D, _BOTH),
    _spec("last_check_in", T, _D, _BOTH),
    _spec("tags", L, _D, _BOTH),
    # Kandji, from the device list.
    _spec("mdm.enabled", B, _D, (_K,), "mdm_enabled"),
    _spec("agent.installed", B, _D, (_K,), "agent_installed"),
    _spec("agent.version", V, _D, (_K,), "agent_version"),
    _spec("lost_mode_status", S, _D, (_K,), "ENABLED when in Lost Mode, unknown otherwise"),
    _spec("lost_mode.enabled", B, _D, (_K,), "lost_mode_status == ENABLED"),
    _spec("is_missing", B, _D, (_K,), "is_missing"),
    _spec("is_removed", B, _D, (_K,), "is_removed"),
    _spec("asset_tag", S, _D, (_K,), "asset_tag"),
    _spec("os_build", S, _D, (_K,), "supplemental_build_version"),
    _spec("os_version_extra", S, _D, (_K,), "supplemental_os_version_extra"),
    _spec("api_level", S, _D, (_K,), "Android"),
    _spec("security_patch_level", S, _D, (_K,), "Android"),
    _spec("full_software_version", S, _D, (_K,), "Windows, Android"),
    _spec("user.assigned", B, _D, (_K,), "a user is assigned"),
    _spec("user.name", S, _D, (_K,), "user.name"),
    _spec("user.id", S, _D, (_K,), "user.id"),
    _spec("user.archived", B, _D, (_K,), "user.is_archived"),
    _spec("first_enrollment", T, _D, (_K,), "first_enrollment"),
    _spec("last_enrollment", T, _D, _BOTH, "last_enrollment; Applivery enrolledDate"),
    # Kandji, from the device details (one request per device).
    _spec("system_version", S, _DET, (_K,), "general.system_version"),
    _spec("last_user", S, _DET, (_K,), "general.last_user"),
    _spec("mdm.installed_at", T, _DET, (_K,), "mdm.install_date"),
    _spec("mdm.last_check_in", T, _DET, (_K,), "mdm.last_check_in"),
    _spec("agent.installed_at", T, _DET, (_K,), "kandji_agent.install_date"),
    _spec("agent.last_check_in", T, _DET, (_K,), "kandji_agent.last_check_in"),
    _spec("filevault.enabled", B, _DET, (_K,), "filevault_enabled; unknown on iOS and tvOS"),
    _spec("filevault.prk_escrowed", B, _DET, (_K,), "filevault_prk_escrowed"),
    _spec("filevault.recovery_key_type", S, _DET, (_K,), "filevault_recoverykey_type"),
    _spec("filevault.next_rotation", T, _DET, (_K,), "filevault_next_rotation"),
    _spec("filevault.regen_required", B, _DET, (_K,), "filevault_regen_required"),
    _spec("activation_lock.device_enabled", B, _DET, (_K,), ""),
    _spec("activation_lock.user_enabled", B, _DET, (_K,), ""),
    _spec("activation_lock.supported", B, _DET, (_K,), ""),
    _spec("activation_lock.bypass_code_failed", B, _DET, (_K,), ""),
    _spec("recovery_lock.enabled", B, _DET, (_K,), "recovery_information.recovery_lock_enabled"),
    _spec("firmware_password.exists", B, _DET, (_K,), "recovery_information"),
    _spec("remote_desktop.enabled", B, _DET, (_K,), "security_information"),
    _spec("ade.eligible", B, _DET, (_K,), "automated_device_enrollment.auto_enroll_eligible"),
    _spec("ade.enrolled", B, _DET, (_K,), "automated_device_enrollment.auto_enrolled"),
    _spec("lost_mode.enabled_by", S, _DET, (_K,), "lost_mode.enabled_by"),
    _spec("lost_mode.enabled_at", T, _DET, (_K,), "lost_mode.enable_status_at"),
    _spec("volumes.all_encrypted", B, _DET, (_K,), "every volume reporting encrypted says Yes"),
    _spec("users.admin_count", N, _DET, (_K,), "local admins among regular users"),
    _spec("users.admins", L, _DET, (_K,), "local admin user names"),
    _spec("profiles.count", N, _DET, (_K,), "installed profiles"),
    _spec("profiles.identifiers", L, _DET, (_K,), "installed profile identifiers"),
    _spec("windows.os_edition", S, _DET, (_K,), ""),
    _spec("windows.os_build", S, _DET, (_K,), ""),
    _spec("android.device_posture", S, _DET, (_K,), ""),
    _spec("android.encryption_status", S, _DET, (_K,), ""),
    _spec("android.has_passcode", B, _DET, (_K,), ""),
    _spec("android.play_protect", B, _DET, (_K,), ""),
    _spec("android.developer_mode", B, _DET, (_K,), ""),
    _spec("android.management_mode", S, _DET, (_K,), ""),
    _spec("android.ownership", S, _DET, (_K,), ""),
    _spec("disk_encryption.enabled", B, _DET, (_K,), "FileVault on a Mac, storage on Android"),
    # Applivery, from the device list.
    _spec("compliance", B, _D, (_A,), "Applivery's own compliant verdict"),
    _spec("compliance_checked_at", T, _D, (_A,), "when Applivery last judged compliance"),
    _spec("state", S, _D, (_A,), "PROVISIONING, ACTIVE, DELETED, DELETE_REQUESTED, UNKNOWN"),
    _spec("sync_error", B, _D, (_A,)),
    _spec("os_version_name", S, _D, (_A,)),
    _spec("refresh_info_needed", L, _D, (_A,), "info categories still pending"),
    _spec("imei", S, _D, (_A,), "summary.imei"),
    _spec("policy.id", S, _D, (_A,), "the policy in force (also blueprint_id)"),
    _spec("policy.name", S, _D, (_A,), "also blueprint_name"),
    _spec("config.error_count", N, _D, (_A,), "OMA-URI nodes the device failed to answer"),
    _spec("config.errors", L, _D, (_A,), "those OMA-URIs"),
    # Kandji reports supervision in the details, Applivery in its device list.
    FieldSpec("mdm.supervised", B, MappingProxyType({_K: _DET, _A: _D})),
)


def _subject_fields(
    fact: FactKind, sources: tuple[SourceKind, ...], *attrs: tuple[str, ValueType, str]
) -> Mapping[str, FieldSpec]:
    base = (
        _spec("kind", S, fact, sources),
        _spec("id", S, fact, sources),
        _spec("name", S, fact, sources),
        _spec("status", S, fact, sources),
        _spec("type", S, fact, sources),
    )
    return _catalogue(*base, *(_spec(n, t, fact, sources, d) for n, t, d in attrs))


SUBJECT_FIELDS: Mapping[SubjectKind, Mapping[str, FieldSpec]] = MappingProxyType(
    {
        # id: item_id (UUID); status: PASS, ERROR, INCOMPATIBLE, ..., profiles in lower
        # case (success, pending, failed); type: custom-script, profile, ...
        SubjectKind.LIBRARY_ITEM: _subject_fields(
            FactKind.LIBRARY_ITEMS,
            (_K,),
            ("log", S, "the item's log"),
            ("last_audit_log", S, ""),
            ("last_audit_run", T, ""),
            ("reported_at", T, ""),
            ("control_log", S, ""),
            ("control_reported_at", T, ""),
            ("rules_present", B, "the item has assignment rules"),
            ("is_profile", B, "type == profile (statuses are then lower case)"),
            ("status_known", B, "the status is one the API documents"),
            ("blueprint_id", S, "the blueprint that assigns the item"),
            ("blueprint_name", S, ""),
            ("edr.status", S, "threat-security-policy items: enabled, ..."),
            ("edr.malware_posture", S, ""),
            ("edr.pup_posture", S, ""),
            ("edr.last_baseline_scan", S, "human-readable date"),
        ),
        # id: item_id (UUID); status: PASS, PENDING, ERROR, WARNING, REMEDIATED, INCOMPATIBLE.
        SubjectKind.PARAMETER: _subject_fields(
            FactKind.PARAMETERS,
            (_K,),
            ("category", S, ""),
            ("subcategory", S, ""),
            ("status_known", B, "the status is one the API documents"),
        ),
        # id: bundle id (Apple), package family name (Windows), package name (Android);
        # type: apple, windows or android; status: installed.
        SubjectKind.APP: _subject_fields(
            FactKind.APPS,
            _BOTH,
            ("version", V, ""),
            ("bundle_id", S, "Apple"),
            ("source", S, "Apple: Apple, Identified Developer, ...; Android: install source"),
            ("path", S, ""),
            ("signature", S, "Apple"),
            ("app_store_vendable", B, "Apple"),
            ("device_based_vpp", B, "Apple"),
            ("modified_at", T, "Apple"),
            ("publisher", S, "Windows"),
            ("application_type", S, "Windows"),
            ("architecture", S, "Windows"),
            ("product_code", S, "Windows"),
            ("package_name", S, "Android"),
            ("installer", S, "Android"),
            ("sha256", S, "Android"),
        ),
        # One subject per device in Lost Mode; id: the device id; status: ENABLED, ...
        SubjectKind.LOST_MODE: _subject_fields(
            FactKind.LOST_MODE,
            (_K,),
            ("enabled_by", S, ""),
            ("enabled_at", T, "enable_status_at"),
            ("disable_status", S, ""),
            ("last_location_status", S, ""),
            ("last_location_at", T, ""),
            ("lock_screen_message", S, ""),
        ),
        SubjectKind.DEVICE: DEVICE_FIELDS,
    }
)

RULE_SUBJECT_KINDS: tuple[SubjectKind, ...] = (
    SubjectKind.LIBRARY_ITEM,
    SubjectKind.PARAMETER,
    SubjectKind.DEVICE,
    SubjectKind.APP,
    SubjectKind.LOST_MODE,
)
"""The subject kinds a rule may be about (``source`` and ``action`` are the monitor's own)."""


def fields_for(kind: SubjectKind) -> Mapping[str, FieldSpec]:
    """The fields a rule about ``kind`` may name without a prefix."""
    return SUBJECT_FIELDS[kind]


def details_fields(source_kind: SourceKind = SourceKind.KANDJI) -> frozenset[str]:
    """Device fields that need ``FactKind.DETAILS`` on ``source_kind`` (one request per device)."""
    return frozenset(
        name for name, spec in DEVICE_FIELDS.items() if spec.facts.get(source_kind) is _DET
    )
