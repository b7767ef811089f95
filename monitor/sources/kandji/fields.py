"""The facts a Kandji source reports, for the rule engine's catalogue.

Device facts from the device list (``FactKind.DEVICE``) are free: every sweep reads the
list anyway. Those marked ``FactKind.DETAILS`` need one ``GET /devices/{id}/details``
per device, so the shipped rules naming them are disabled. A fact read as it is names
its path in the Kandji model (:func:`~monitor.sources.catalogue.reads`): the mapping
reads it from there (:func:`~monitor.sources.catalogue.read_fields`); the others say
how :mod:`monitor.sources.kandji.mapping` computes them.
"""

from __future__ import annotations

from monitor.models import FactKind, SubjectKind
from monitor.sources.catalogue import FieldCatalogue, FieldDecl, ValueType, declare, reads

S, B, N, V, T, L = (
    ValueType.STR,
    ValueType.BOOL,
    ValueType.NUMBER,
    ValueType.VERSION,
    ValueType.TIMESTAMP,
    ValueType.LIST,
)

# Read from a device record (paths into KDevice).
DEVICE_LIST_FIELDS = reads(
    FactKind.DEVICE,
    ("mdm.enabled", B, "mdm_enabled"),
    ("agent.installed", B, "agent_installed"),
    ("agent.version", V, "agent_version"),
    ("is_missing", B, "is_missing"),
    ("is_removed", B, "is_removed"),
    ("os_build", S, "supplemental_build_version"),
    ("os_version_extra", S, "supplemental_os_version_extra"),
    ("api_level", S, "api_level", "Android"),
    ("security_patch_level", S, "security_patch_level", "Android"),
    ("full_software_version", S, "full_software_version", "Windows, Android"),
    ("user.name", S, "user.name"),
    ("user.id", S, "user.id"),
    ("user.archived", B, "user.is_archived"),
    ("first_enrollment", T, "first_enrollment"),
    ("last_enrollment", T, "last_enrollment"),
) + declare(
    FactKind.DEVICE,
    ("lost_mode_status", S, "ENABLED when in Lost Mode, unknown otherwise"),
    ("lost_mode.enabled", B, "lost_mode_status == ENABLED"),
    ("asset_tag", S, "asset_tag (empty when none is set)"),
    ("user.assigned", B, "a user is assigned"),
)

# Read from /details (paths into KDeviceDetails).
DETAILS_FIELDS = reads(
    FactKind.DETAILS,
    ("system_version", S, "general.system_version"),
    ("last_user", S, "general.last_user"),
    ("mdm.supervised", B, "mdm.supervised"),
    ("mdm.installed_at", T, "mdm.install_date"),
    ("mdm.last_check_in", T, "mdm.last_check_in"),
    ("agent.installed_at", T, "kandji_agent.install_date"),
    ("agent.last_check_in", T, "kandji_agent.checked_in", "Apple or Windows key"),
    ("filevault.enabled", B, "filevault.filevault_enabled", "unknown on iOS and tvOS"),
    ("filevault.prk_escrowed", B, "filevault.filevault_prk_escrowed"),
    ("filevault.recovery_key_type", S, "filevault.filevault_recoverykey_type"),
    ("filevault.next_rotation", T, "filevault.filevault_next_rotation"),
    ("filevault.regen_required", B, "filevault.filevault_regen_required"),
    ("activation_lock.device_enabled", B, "activation_lock.device_activation_lock_enabled"),
    ("activation_lock.user_enabled", B, "activation_lock.user_activation_lock_enabled"),
    ("activation_lock.supported", B, "activation_lock.activation_lock_supported"),
    ("activation_lock.bypass_code_failed", B, "activation_lock.bypass_code_failed"),
    ("recovery_lock.enabled", B, "recovery_information.recovery_lock_enabled"),
    ("firmware_password.exists", B, "recovery_information.firmware_password_exist"),
    ("remote_desktop.enabled", B, "security_information.remote_desktop_enabled"),
    ("ade.eligible", B, "automated_device_enrollment.auto_enroll_eligible"),
    ("ade.enrolled", B, "automated_device_enrollment.auto_enrolled"),
    ("lost_mode.enabled_by", S, "lost_mode.enabled_by"),
    ("lost_mode.enabled_at", T, "lost_mode.enable_status_at"),
    ("windows.os_edition", S, "general.os_edition"),
    ("android.device_posture", S, "security.device_posture"),
    ("android.encryption_status", S, "security.encryption_status"),
    ("android.has_passcode", B, "security.has_passcode"),
    ("android.play_protect", B, "security.has_google_play_protect"),
    ("android.developer_mode", B, "security.developer_mode_enabled"),
    ("android.management_mode", S, "management.management_mode"),
    ("android.ownership", S, "management.ownership"),
) + declare(
    FactKind.DETAILS,
    ("volumes.all_encrypted", B, "every volume reporting encrypted says Yes"),
    ("users.admin_count", N, "local admins among regular users"),
    ("users.admins", L, "local admin user names"),
    ("profiles.count", N, "installed profiles"),
    ("profiles.identifiers", L, "installed profile identifiers"),
    ("windows.os_build", S, "general.os_build, on Windows"),
    ("disk_encryption.enabled", B, "FileVault on a Mac, storage on Android"),
)

# id: item_id (UUID); status: PASS, ERROR, INCOMPATIBLE, ..., profiles in lower case
# (success, pending, failed); type: custom-script, profile, ...
LIBRARY_ITEM_FIELDS = declare(
    FactKind.LIBRARY_ITEMS,
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
)

# Read from a library item row's edr_status (paths into KItemRun).
EDR_FIELDS = reads(
    FactKind.LIBRARY_ITEMS,
    ("edr.status", S, "edr_status.status", "threat-security-policy items: enabled, ..."),
    ("edr.malware_posture", S, "edr_status.malware_posture"),
    ("edr.pup_posture", S, "edr_status.pup_posture"),
    ("edr.last_baseline_scan", S, "edr_status.last_baseline_scan", "human-readable date"),
)

# id: item_id (UUID); status: PASS, PENDING, ERROR, WARNING, REMEDIATED, INCOMPATIBLE.
PARAMETER_FIELDS = declare(
    FactKind.PARAMETERS,
    ("category", S, ""),
    ("subcategory", S, ""),
    ("status_known", B, "the status is one the API documents"),
)

# id: bundle id (Apple), package family name (Windows), package name (Android);
# type: apple, windows or android; status: installed.
APP_FIELDS = declare(
    FactKind.APPS,
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
)

# One subject per device in Lost Mode; id: the device id; status: ENABLED, ...
# Read from /details/lostmode (paths into KLostMode).
LOST_MODE_FIELDS = reads(
    FactKind.LOST_MODE,
    ("enabled_by", S, "enabled_by"),
    ("enabled_at", T, "enable_status_at"),
    ("disable_status", S, "disable_status"),
    ("last_location_status", S, "last_location_status"),
    ("lock_screen_message", S, "lock_screen_message"),
) + declare(
    FactKind.LOST_MODE,
    ("last_location_at", T, "last_location_at, else last_location_status_at"),
)

FIELDS: FieldCatalogue = {
    SubjectKind.DEVICE: DEVICE_LIST_FIELDS + DETAILS_FIELDS,
    SubjectKind.LIBRARY_ITEM: LIBRARY_ITEM_FIELDS + EDR_FIELDS,
    SubjectKind.PARAMETER: PARAMETER_FIELDS,
    SubjectKind.APP: APP_FIELDS,
    SubjectKind.LOST_MODE: LOST_MODE_FIELDS,
}
"""Every field a Kandji source reports, by subject kind."""

__all__ = [
    "DETAILS_FIELDS",
    "DEVICE_LIST_FIELDS",
    "EDR_FIELDS",
    "FIELDS",
    "LOST_MODE_FIELDS",
    "FieldDecl",
]
