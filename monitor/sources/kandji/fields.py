"""The facts a Kandji source reports, for the rule engine's catalogue.

Device facts from the device list (``FactKind.DEVICE``) are free: every sweep reads the
list anyway. Those marked ``FactKind.DETAILS`` need one ``GET /devices/{id}/details``
per device, so the shipped rules naming them are disabled. Each ``doc`` names the
Kandji field the fact is read from.
"""

from __future__ import annotations

from monitor.models import FactKind, SubjectKind
from monitor.sources.catalogue import FieldCatalogue, FieldDecl, ValueType, declare

S, B, N, V, T, L = (
    ValueType.STR,
    ValueType.BOOL,
    ValueType.NUMBER,
    ValueType.VERSION,
    ValueType.TIMESTAMP,
    ValueType.LIST,
)

DEVICE_LIST_FIELDS = declare(
    FactKind.DEVICE,
    ("mdm.enabled", B, "mdm_enabled"),
    ("agent.installed", B, "agent_installed"),
    ("agent.version", V, "agent_version"),
    ("lost_mode_status", S, "ENABLED when in Lost Mode, unknown otherwise"),
    ("lost_mode.enabled", B, "lost_mode_status == ENABLED"),
    ("is_missing", B, "is_missing"),
    ("is_removed", B, "is_removed"),
    ("asset_tag", S, "asset_tag"),
    ("os_build", S, "supplemental_build_version"),
    ("os_version_extra", S, "supplemental_os_version_extra"),
    ("api_level", S, "Android"),
    ("security_patch_level", S, "Android"),
    ("full_software_version", S, "Windows, Android"),
    ("user.assigned", B, "a user is assigned"),
    ("user.name", S, "user.name"),
    ("user.id", S, "user.id"),
    ("user.archived", B, "user.is_archived"),
    ("first_enrollment", T, "first_enrollment"),
    ("last_enrollment", T, "last_enrollment"),
)

DETAILS_FIELDS = declare(
    FactKind.DETAILS,
    ("system_version", S, "general.system_version"),
    ("last_user", S, "general.last_user"),
    ("mdm.supervised", B, "mdm.supervised"),
    ("mdm.installed_at", T, "mdm.install_date"),
    ("mdm.last_check_in", T, "mdm.last_check_in"),
    ("agent.installed_at", T, "kandji_agent.install_date"),
    ("agent.last_check_in", T, "kandji_agent.last_check_in"),
    ("filevault.enabled", B, "filevault_enabled; unknown on iOS and tvOS"),
    ("filevault.prk_escrowed", B, "filevault_prk_escrowed"),
    ("filevault.recovery_key_type", S, "filevault_recoverykey_type"),
    ("filevault.next_rotation", T, "filevault_next_rotation"),
    ("filevault.regen_required", B, "filevault_regen_required"),
    ("activation_lock.device_enabled", B, ""),
    ("activation_lock.user_enabled", B, ""),
    ("activation_lock.supported", B, ""),
    ("activation_lock.bypass_code_failed", B, ""),
    ("recovery_lock.enabled", B, "recovery_information.recovery_lock_enabled"),
    ("firmware_password.exists", B, "recovery_information"),
    ("remote_desktop.enabled", B, "security_information"),
    ("ade.eligible", B, "automated_device_enrollment.auto_enroll_eligible"),
    ("ade.enrolled", B, "automated_device_enrollment.auto_enrolled"),
    ("lost_mode.enabled_by", S, "lost_mode.enabled_by"),
    ("lost_mode.enabled_at", T, "lost_mode.enable_status_at"),
    ("volumes.all_encrypted", B, "every volume reporting encrypted says Yes"),
    ("users.admin_count", N, "local admins among regular users"),
    ("users.admins", L, "local admin user names"),
    ("profiles.count", N, "installed profiles"),
    ("profiles.identifiers", L, "installed profile identifiers"),
    ("windows.os_edition", S, ""),
    ("windows.os_build", S, ""),
    ("android.device_posture", S, ""),
    ("android.encryption_status", S, ""),
    ("android.has_passcode", B, ""),
    ("android.play_protect", B, ""),
    ("android.developer_mode", B, ""),
    ("android.management_mode", S, ""),
    ("android.ownership", S, ""),
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
    ("edr.status", S, "threat-security-policy items: enabled, ..."),
    ("edr.malware_posture", S, ""),
    ("edr.pup_posture", S, ""),
    ("edr.last_baseline_scan", S, "human-readable date"),
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
LOST_MODE_FIELDS = declare(
    FactKind.LOST_MODE,
    ("enabled_by", S, "lost_mode.enabled_by"),
    ("enabled_at", T, "lost_mode.enable_status_at"),
    ("disable_status", S, "lost_mode.disable_status"),
    ("last_location_status", S, "lost_mode.last_location_status"),
    ("last_location_at", T, "lost_mode.last_location_at"),
    ("lock_screen_message", S, "lost_mode.lock_screen_message"),
)

FIELDS: FieldCatalogue = {
    SubjectKind.DEVICE: DEVICE_LIST_FIELDS + DETAILS_FIELDS,
    SubjectKind.LIBRARY_ITEM: LIBRARY_ITEM_FIELDS,
    SubjectKind.PARAMETER: PARAMETER_FIELDS,
    SubjectKind.APP: APP_FIELDS,
    SubjectKind.LOST_MODE: LOST_MODE_FIELDS,
}
"""Every field a Kandji source reports, by subject kind."""

__all__ = ["FIELDS", "FieldDecl"]
