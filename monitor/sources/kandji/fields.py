"""The facts a Kandji source reports, for the rule engine's catalogue.

Device facts from the device list (``FactKind.DEVICE``) are free: every sweep reads the
list anyway. Those marked ``FactKind.DETAILS`` need one ``GET /devices/{id}/details``
per device, so the shipped rules naming them are disabled. A fact read as it is names
its path in the Kandji model: the mapping reads it from there
(:func:`~monitor.sources.catalogue.read_fields`); the others (path ``-``) say how
:mod:`monitor.sources.kandji.mapping` computes them. Columns: name, type, path, note
(:func:`~monitor.sources.catalogue.table`).
"""

from __future__ import annotations

from monitor.models import FactKind, SubjectKind
from monitor.sources.catalogue import FieldCatalogue, FieldDecl, table

# Read from a device record (paths into KDevice).
DEVICE_LIST_FIELDS = table(FactKind.DEVICE, """
mdm.enabled            boolean    mdm_enabled
agent.installed        boolean    agent_installed
agent.version          version    agent_version
is_missing             boolean    is_missing
is_removed             boolean    is_removed
os_build               string     supplemental_build_version
os_version_extra       string     supplemental_os_version_extra
api_level              string     api_level              Android
security_patch_level   string     security_patch_level   Android
full_software_version  string     full_software_version  Windows, Android
user.name              string     user.name
user.id                string     user.id
user.archived          boolean    user.is_archived
first_enrollment       timestamp  first_enrollment
last_enrollment        timestamp  last_enrollment
lost_mode_status       string     -  ENABLED when in Lost Mode, unknown otherwise
lost_mode.enabled      boolean    -  lost_mode_status == ENABLED
asset_tag              string     -  asset_tag (empty when none is set)
user.assigned          boolean    -  a user is assigned
""")

# Read from /details (paths into KDeviceDetails).
DETAILS_FIELDS = table(FactKind.DETAILS, """
system_version                      string     general.system_version
last_user                           string     general.last_user
mdm.supervised                      boolean    mdm.supervised
mdm.installed_at                    timestamp  mdm.install_date
mdm.last_check_in                   timestamp  mdm.last_check_in
agent.installed_at                  timestamp  kandji_agent.install_date
agent.last_check_in                 timestamp  kandji_agent.checked_in      Apple or Windows key
filevault.enabled                   boolean    filevault.filevault_enabled  unknown on iOS and tvOS
filevault.prk_escrowed              boolean    filevault.filevault_prk_escrowed
filevault.recovery_key_type         string     filevault.filevault_recoverykey_type
filevault.next_rotation             timestamp  filevault.filevault_next_rotation
filevault.regen_required            boolean    filevault.filevault_regen_required
activation_lock.device_enabled      boolean    activation_lock.device_activation_lock_enabled
activation_lock.user_enabled        boolean    activation_lock.user_activation_lock_enabled
activation_lock.supported           boolean    activation_lock.activation_lock_supported
activation_lock.bypass_code_failed  boolean    activation_lock.bypass_code_failed
recovery_lock.enabled               boolean    recovery_information.recovery_lock_enabled
firmware_password.exists            boolean    recovery_information.firmware_password_exist
remote_desktop.enabled              boolean    security_information.remote_desktop_enabled
ade.eligible                        boolean    automated_device_enrollment.auto_enroll_eligible
ade.enrolled                        boolean    automated_device_enrollment.auto_enrolled
lost_mode.enabled_by                string     lost_mode.enabled_by
lost_mode.enabled_at                timestamp  lost_mode.enable_status_at
windows.os_edition                  string     general.os_edition
android.device_posture              string     security.device_posture
android.encryption_status           string     security.encryption_status
android.has_passcode                boolean    security.has_passcode
android.play_protect                boolean    security.has_google_play_protect
android.developer_mode              boolean    security.developer_mode_enabled
android.management_mode             string     management.management_mode
android.ownership                   string     management.ownership
volumes.all_encrypted               boolean    -  every volume reporting encrypted says Yes
users.admin_count                   number     -  local admins among regular users
users.admins                        list       -  local admin user names
profiles.count                      number     -  installed profiles
profiles.identifiers                list       -  installed profile identifiers
windows.os_build                    string     -  general.os_build, on Windows
disk_encryption.enabled             boolean    -  FileVault on a Mac, storage on Android
""")

# id: item_id (UUID); status: PASS, ERROR, INCOMPATIBLE, ..., profiles in lower case
# (success, pending, failed); type: custom-script, profile, ...
LIBRARY_ITEM_FIELDS = table(FactKind.LIBRARY_ITEMS, """
log                  string     -  the item's log
last_audit_log       string     -
last_audit_run       timestamp  -
reported_at          timestamp  -
control_log          string     -
control_reported_at  timestamp  -
rules_present        boolean    -  the item has assignment rules
is_profile           boolean    -  type == profile (statuses are then lower case)
status_known         boolean    -  the status is one the API documents
blueprint_id         string     -  the blueprint that assigns the item
blueprint_name       string     -
""")

# Read from a library item row's edr_status (paths into KItemRun).
EDR_FIELDS = table(FactKind.LIBRARY_ITEMS, """
edr.status              string  edr_status.status  threat-security-policy items: enabled, ...
edr.malware_posture     string  edr_status.malware_posture
edr.pup_posture         string  edr_status.pup_posture
edr.last_baseline_scan  string  edr_status.last_baseline_scan  human-readable date
""")

# id: item_id (UUID); status: PASS, PENDING, ERROR, WARNING, REMEDIATED, INCOMPATIBLE.
PARAMETER_FIELDS = table(FactKind.PARAMETERS, """
category      string   -
subcategory   string   -
status_known  boolean  -  the status is one the API documents
""")

# id: bundle id (Apple), package family name (Windows), package name (Android);
# type: apple, windows or android; status: installed.
APP_FIELDS = table(FactKind.APPS, """
version             version    -
bundle_id           string     -  Apple
source              string     -  Apple: Apple, Identified Developer, ...; Android: install source
path                string     -
signature           string     -  Apple
app_store_vendable  boolean    -  Apple
device_based_vpp    boolean    -  Apple
modified_at         timestamp  -  Apple
publisher           string     -  Windows
application_type    string     -  Windows
architecture        string     -  Windows
product_code        string     -  Windows
package_name        string     -  Android
installer           string     -  Android
sha256              string     -  Android
""")

# One subject per device in Lost Mode; id: the device id; status: ENABLED, ...
# Read from /details/lostmode (paths into KLostMode).
LOST_MODE_FIELDS = table(FactKind.LOST_MODE, """
enabled_by            string     enabled_by
enabled_at            timestamp  enable_status_at
disable_status        string     disable_status
last_location_status  string     last_location_status
lock_screen_message   string     lock_screen_message
last_location_at      timestamp  -  last_location_at, else last_location_status_at
""")

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
