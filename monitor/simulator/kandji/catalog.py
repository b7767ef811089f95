"""Static catalogs the simulated Kandji fleet draws from.

Names, models, OS builds, library items, macOS parameters and apps. Everything here is
constant data; :mod:`monitor.simulator.kandji.fleet` picks from it deterministically by seed.
The values are plausible inventory, written for the simulator, shaped like what the
Kandji API reports (see ``shared/kandji/API-NOTES.md`` sections 3 and 4).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

# Platforms, in the order of their one-byte codes in the fleet's arrays.
PLATFORMS: tuple[str, ...] = ("Mac", "iPhone", "iPad", "AppleTV")
MAC, IPHONE, IPAD, APPLETV = range(4)
MOBILE = frozenset({IPHONE, IPAD})
ALL_PLATFORMS = frozenset({MAC, IPHONE, IPAD, APPLETV})

# Kandji's parameter ids are fixed across tenants; the one documented in the examples
# keeps its real id, the others get stable ids derived from their names.
_PARAMETER_NAMESPACE = uuid.UUID("6f1c51b2-8a73-4d1e-9b55-3c0e7a4e2d10")


@dataclass(frozen=True, slots=True)
class HardwareModel:
    """One hardware model a simulated device can be."""

    platform: int
    model: str
    identifier: str
    processor: str
    cores: int
    memory: str
    capacity_gb: float


HARDWARE: tuple[HardwareModel, ...] = (
    HardwareModel(
        MAC, "MacBook Air (M1, 2020)", "MacBookAir10,1", "Apple M1", 8, "8 GB LPDDR4", 228.27
    ),
    HardwareModel(
        MAC, "MacBook Air (15-inch, M2, 2023)", "Mac14,15", "Apple M2", 8, "16 GB", 494.38
    ),
    HardwareModel(
        MAC, "MacBook Pro (14-inch, M3 Pro, 2023)", "Mac15,6", "Apple M3 Pro", 11, "18 GB", 494.38
    ),
    HardwareModel(
        MAC, "MacBook Pro (16-inch, M3 Max, 2023)", "Mac15,9", "Apple M3 Max", 16, "48 GB", 994.66
    ),
    HardwareModel(MAC, "Mac mini (2023)", "Mac14,3", "Apple M2", 8, "16 GB", 494.38),
    HardwareModel(MAC, "iMac (24-inch, 2023)", "Mac15,4", "Apple M3", 8, "16 GB", 494.38),
    HardwareModel(MAC, "Mac Studio (2023)", "Mac14,13", "Apple M2 Max", 12, "32 GB", 994.66),
    HardwareModel(IPHONE, "iPhone 13", "iPhone14,5", "", 0, "", 128.0),
    HardwareModel(IPHONE, "iPhone 14 Pro", "iPhone15,2", "", 0, "", 256.0),
    HardwareModel(IPHONE, "iPhone 15", "iPhone15,4", "", 0, "", 128.0),
    HardwareModel(IPHONE, "iPhone SE (3rd generation)", "iPhone14,6", "", 0, "", 64.0),
    HardwareModel(IPAD, "iPad (9th generation) (Wi-Fi)", "iPad12,1", "", 0, "", 64.0),
    HardwareModel(IPAD, "iPad Air (5th generation) (Wi-Fi)", "iPad13,16", "", 0, "", 256.0),
    HardwareModel(IPAD, "iPad Pro (11-inch) (4th generation)", "iPad14,3", "", 0, "", 512.0),
    HardwareModel(APPLETV, "Apple TV 4K (2nd generation)", "AppleTV11,1", "", 0, "", 32.0),
    HardwareModel(APPLETV, "Apple TV 4K (3rd generation)", "AppleTV14,1", "", 0, "", 64.0),
)

# (os_version, build) per platform, newest last.
OS_BUILDS: dict[int, tuple[tuple[str, str], ...]] = {
    MAC: (
        ("13.6.9", "22G830"),
        ("14.6.1", "23G93"),
        ("14.7", "23H124"),
        ("15.1", "24B83"),
        ("15.2", "24C101"),
        ("15.3", "24D60"),
    ),
    IPHONE: (("17.6.1", "21G93"), ("18.1", "22B83"), ("18.2", "22C152"), ("18.3", "22D63")),
    IPAD: (("17.6.1", "21G93"), ("18.1", "22B83"), ("18.2", "22C152"), ("18.3", "22D63")),
    APPLETV: (("17.6", "21M71"), ("18.2", "22K154")),
}

AGENT_VERSIONS: tuple[str, ...] = ("4.9.2 (5690)", "5.0.1 (5812)", "5.1.0 (5903)")

FIRST_NAMES: tuple[str, ...] = (
    "Ada",
    "Bruno",
    "Chen",
    "Dana",
    "Elif",
    "Farah",
    "Goran",
    "Hana",
    "Ivan",
    "Jonas",
    "Kemal",
    "Lena",
    "Mateo",
    "Nadia",
    "Oskar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tomas",
    "Uma",
    "Viktor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zara",
    "Amir",
    "Beatriz",
    "Carlos",
    "Dmitri",
    "Emeka",
    "Fiona",
    "Gabriel",
    "Helga",
    "Ines",
    "Jun",
    "Kofi",
    "Lucia",
    "Mikko",
    "Noor",
)
LAST_NAMES: tuple[str, ...] = (
    "Almeida",
    "Berg",
    "Castillo",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quintana",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Urban",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zhang",
    "Andersson",
    "Bianchi",
    "Costa",
    "Novak",
)
EMAIL_DOMAIN = "example.com"

TAG_NAMES: tuple[str, ...] = (
    "engineering",
    "sales",
    "finance",
    "support",
    "design",
    "remote",
    "pilot-ring",
    "executive",
    "loaner",
    "kiosk",
)

ROOMS: tuple[str, ...] = ("Atlas", "Borealis", "Cygnus", "Draco", "Eridanus", "Fornax", "Lyra")


@dataclass(frozen=True, slots=True)
class BlueprintSpec:
    """One blueprint of the simulated tenant and the platforms it is meant for."""

    name: str
    type: str  # classic | map
    platforms: frozenset[int]
    weight: float  # share of its platforms' devices enrolled in it
    icon: str
    color: str
    description: str


BLUEPRINTS: tuple[BlueprintSpec, ...] = (
    BlueprintSpec(
        "All Staff",
        "classic",
        frozenset({MAC}),
        0.6,
        "ss-laptop",
        "blue-500",
        "Default blueprint for company Macs",
    ),
    BlueprintSpec(
        "Engineering",
        "classic",
        frozenset({MAC}),
        0.3,
        "ss-terminal",
        "purple-400",
        "Macs with developer tooling",
    ),
    BlueprintSpec(
        "Lab Macs", "map", frozenset({MAC}), 0.1, "ss-flask", "aqua-500", "Shared test machines"
    ),
    BlueprintSpec(
        "Corporate iPhones", "classic", frozenset({IPHONE}), 1.0, "ss-iphone", "green-500", ""
    ),
    BlueprintSpec("Shared iPads", "classic", frozenset({IPAD}), 1.0, "ss-ipad", "orange-400", ""),
    BlueprintSpec(
        "Conference Room TVs",
        "classic",
        frozenset({APPLETV}),
        1.0,
        "ss-tv",
        "grey-500",
        "Meeting room displays",
    ),
)


@dataclass(frozen=True, slots=True)
class ItemSpec:
    """One library item definition: type, name and the platforms it can run on."""

    type: str
    name: str
    platforms: frozenset[int]
    self_service: bool = False
    identifier: str = ""  # profile payload identifier, for installed_profiles


_MAC = frozenset({MAC})
_MOB = MOBILE
_APPLE_NO_TV = frozenset({MAC, IPHONE, IPAD})
_TV = frozenset({APPLETV})

ITEMS: tuple[ItemSpec, ...] = (
    ItemSpec("kandji-setup", "Liftoff", _MAC),
    ItemSpec("threat-security-policy", "Avert", _MAC),
    ItemSpec("macos-release", "macOS 15 Sequoia", _MAC),
    ItemSpec("automatic-app", "Google Chrome", _MAC),
    ItemSpec("automatic-app", "Slack", _MAC),
    ItemSpec("automatic-app", "Zoom", _MAC),
    ItemSpec("custom-script", "enable_firewall", _MAC),
    ItemSpec("profile", "Wi-Fi - Corporate", ALL_PLATFORMS, identifier="com.example.wifi"),
    ItemSpec("profile", "Passcode Policy", _APPLE_NO_TV, identifier="com.example.passcode"),
    ItemSpec("custom-app", "CrowdStrike Falcon", _MAC),
    ItemSpec("automatic-app", "Microsoft Edge", _MAC),
    ItemSpec("custom-script", "rosetta_2", _MAC),
    ItemSpec("profile", "FileVault", _MAC, identifier="com.example.filevault"),
    ItemSpec("vpp-app", "Okta Verify", _MOB),
    ItemSpec("automatic-app", "1Password 8", _MAC),
    ItemSpec("custom-script", "set_timezone", _MAC),
    ItemSpec("profile", "Okta Device Trust SSO", _APPLE_NO_TV, identifier="com.example.odt.sso"),
    ItemSpec("custom-app", "GlobalProtect VPN", _MAC),
    ItemSpec("automatic-app", "Firefox", _MAC, self_service=True),
    ItemSpec("profile", "Restrictions", _APPLE_NO_TV, identifier="com.example.restrictions"),
    ItemSpec("custom-script", "disable_guest_account", _MAC),
    ItemSpec("automatic-app", "Microsoft Teams", _MAC),
    ItemSpec(
        "profile", "Software Update Deferral", _APPLE_NO_TV, identifier="com.example.softwareupdate"
    ),
    ItemSpec("vpp-app", "Microsoft Outlook", _MOB),
    ItemSpec("automatic-app", "Visual Studio Code", _MAC, self_service=True),
    ItemSpec("custom-script", "dock_layout", _MAC),
    ItemSpec("profile", "Root CA Certificate", ALL_PLATFORMS, identifier="com.example.rootca"),
    ItemSpec("custom-app", "Company Portal", _MAC),
    ItemSpec("automatic-app", "Notion", _MAC, self_service=True),
    ItemSpec("profile", "Privacy Preferences (PPPC)", _MAC, identifier="com.example.pppc"),
    ItemSpec("custom-script", "audit_local_admins", _MAC),
    ItemSpec("macos-release", "macOS 14 Sonoma", _MAC),
    ItemSpec("profile", "Conference Room Home Screen", _TV, identifier="com.example.tv.homescreen"),
    ItemSpec("automatic-app", "Docker Desktop", _MAC, self_service=True),
    ItemSpec("profile", "Screen Saver", _MAC, identifier="com.example.screensaver"),
    ItemSpec("custom-script", "homebrew", _MAC),
    ItemSpec("vpp-app", "Slack", _MOB),
    ItemSpec("automatic-app", "Figma", _MAC, self_service=True),
    ItemSpec("profile", "VPN - Always On", _MOB, identifier="com.example.vpn"),
    ItemSpec("custom-app", "Printer Drivers", _MAC, self_service=True),
    ItemSpec("custom-script", "agent_debug_logging", _MAC),
    ItemSpec("automatic-app", "Microsoft Word", _MAC),
    ItemSpec("profile", "Login Window", _MAC, identifier="com.example.loginwindow"),
    ItemSpec("automatic-app", "Microsoft Excel", _MAC),
    ItemSpec("profile", "System Extensions", _MAC, identifier="com.example.sysext"),
    ItemSpec("custom-script", "rename_computer", _MAC),
    ItemSpec("vpp-app", "Zoom", _MOB),
    ItemSpec("automatic-app", "Microsoft Outlook", _MAC),
    ItemSpec("profile", "Notifications", _APPLE_NO_TV, identifier="com.example.notifications"),
    ItemSpec("custom-app", "Elastic Agent", _MAC),
    ItemSpec("custom-script", "cleanup_downloads", _MAC),
    ItemSpec("profile", "Conference Room AirPlay", _TV, identifier="com.example.tv.airplay"),
    ItemSpec("automatic-app", "Spotify", _MAC, self_service=True),
    ItemSpec("profile", "Firewall Settings", _MAC, identifier="com.example.firewall"),
    ItemSpec("custom-script", "set_login_banner", _MAC),
    ItemSpec("automatic-app", "Brave Browser", _MAC, self_service=True),
    ItemSpec("profile", "Gatekeeper", _MAC, identifier="com.example.gatekeeper"),
    ItemSpec("custom-app", "Tailscale", _MAC),
    ItemSpec("automatic-app", "Postman", _MAC, self_service=True),
    ItemSpec("profile", "Home Screen Layout", _MOB, identifier="com.example.homescreen"),
)


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    """One macOS parameter (a Kandji built-in compliance check)."""

    id: str
    name: str
    category: str
    subcategory: str


def _param(name: str, category: str, subcategory: str, fixed_id: str = "") -> ParameterSpec:
    pid = fixed_id or str(uuid.uuid5(_PARAMETER_NAMESPACE, name))
    return ParameterSpec(pid, name, category, subcategory)


_ACCOUNTS = "User Accounts & Authentication"
_SECURITY = "Security & Privacy"
_ROOT_USER_PARAMETER_ID = "1e4be748-e072-4c1f-b1ff-a98f076b8e8e"

PARAMETERS: tuple[ParameterSpec, ...] = (
    _param('Disable the "root" user', _ACCOUNTS, "User Accounts", _ROOT_USER_PARAMETER_ID),
    _param("Disable the guest account", _ACCOUNTS, "User Accounts"),
    _param("Disable automatic login", _ACCOUNTS, "Login Window"),
    _param("Require a minimum password length", _ACCOUNTS, "Password Policy"),
    _param("Enable the application firewall", _SECURITY, "Firewall"),
    _param("Enable firewall stealth mode", _SECURITY, "Firewall"),
    _param("Keep Gatekeeper enabled", _SECURITY, "Gatekeeper"),
    _param("Require a password after sleep or screen saver", _SECURITY, "General"),
    _param("Require an administrator password for system settings", _SECURITY, "General"),
    _param("Keep System Integrity Protection enabled", _SECURITY, "System Integrity"),
    _param("Enable secure keyboard entry in Terminal", _SECURITY, "Applications"),
    _param("Disable Remote Login (SSH)", "Sharing", "Remote Access"),
    _param("Disable Screen Sharing", "Sharing", "Remote Access"),
    _param("Disable Remote Apple Events", "Sharing", "Remote Access"),
    _param("Disable File Sharing", "Sharing", "Services"),
    _param("Disable Bluetooth Sharing", "Sharing", "Services"),
    _param("Disable Internet Sharing", "Sharing", "Services"),
    _param("Check for software updates automatically", "Software Update", "Updates"),
    _param("Install security responses and system files", "Software Update", "Updates"),
    _param("Set the time automatically", "Date & Time", "Time Server"),
    _param("Set a screen saver idle time", "Desktop & Screen Saver", "Screen Saver"),
    _param("Disable Siri", "Privacy", "Siri"),
    _param("Limit ad tracking", "Privacy", "Advertising"),
    _param("Disable AirDrop", "Sharing", "Services"),
)


@dataclass(frozen=True, slots=True)
class AppSpec:
    """One app that can show up in a device's app inventory."""

    name: str
    bundle_id: str
    version: str
    source: str  # Apple | Identified Developer | Apple Business Manager
    path: str


_UTILITIES = frozenset(
    {"Activity Monitor", "Console", "Disk Utility", "Keychain Access", "Terminal"}
)
"""The system apps that live in ``/System/Applications/Utilities``."""

MAC_SYSTEM_APPS: tuple[AppSpec, ...] = tuple(
    AppSpec(
        name, bundle, version, "Apple",
        f"/System/Applications/{'Utilities/' if name in _UTILITIES else ''}{name}.app",
    )
    for name, bundle, version in (
        ("Activity Monitor", "com.apple.ActivityMonitor", "10.14"),
        ("App Store", "com.apple.AppStore", "3.0"),
        ("Calculator", "com.apple.calculator", "11.0"),
        ("Calendar", "com.apple.iCal", "15.0"),
        ("Console", "com.apple.Console", "1.1"),
        ("Contacts", "com.apple.AddressBook", "14.0"),
        ("Disk Utility", "com.apple.DiskUtility", "22.6"),
        ("FaceTime", "com.apple.FaceTime", "36"),
        ("Keychain Access", "com.apple.keychainaccess", "11.0"),
        ("Mail", "com.apple.mail", "16.0"),
        ("Maps", "com.apple.Maps", "3.0"),
        ("Messages", "com.apple.MobileSMS", "14.0"),
        ("Notes", "com.apple.Notes", "4.11"),
        ("Photos", "com.apple.Photos", "10.0"),
        ("Preview", "com.apple.Preview", "11.0"),
        ("Reminders", "com.apple.reminders", "7.0"),
        ("System Settings", "com.apple.systempreferences", "15.0"),
        ("Terminal", "com.apple.Terminal", "2.14"),
        ("TextEdit", "com.apple.TextEdit", "1.19"),
    )
)

MAC_THIRD_PARTY_APPS: tuple[AppSpec, ...] = tuple(
    AppSpec(name, bundle, version, source, f"/Applications/{name}.app")
    for name, bundle, version, source in (
        ("Google Chrome", "com.google.Chrome", "131.0.6778.140", "Identified Developer"),
        ("Slack", "com.tinyspeck.slackmacgap", "4.41.105", "Identified Developer"),
        ("zoom.us", "us.zoom.xos", "6.3.1", "Identified Developer"),
        ("Microsoft Edge", "com.microsoft.edgemac", "131.0.2903.112", "Identified Developer"),
        ("1Password", "com.1password.1password", "8.10.54", "Identified Developer"),
        ("Firefox", "org.mozilla.firefox", "133.0.3", "Identified Developer"),
        ("Visual Studio Code", "com.microsoft.VSCode", "1.96.2", "Identified Developer"),
        ("Notion", "notion.id", "4.3.0", "Identified Developer"),
        ("Docker", "com.docker.docker", "4.37.1", "Identified Developer"),
        ("Okta Verify", "com.okta.mobile", "9.27.2", "Apple Business Manager"),
        ("Kandji Self Service", "io.kandji.Self-Service", "1.6.3", "Identified Developer"),
        ("Microsoft Teams", "com.microsoft.teams2", "24335.206.3315", "Identified Developer"),
        ("Figma", "com.figma.Desktop", "124.7.4", "Identified Developer"),
        ("Spotify", "com.spotify.client", "1.2.53.440", "Identified Developer"),
    )
)

MOBILE_APPS: tuple[AppSpec, ...] = (
    AppSpec("Okta Verify", "com.okta.mobile", "9.27", "", ""),
    AppSpec("Microsoft Outlook", "com.microsoft.Office.Outlook", "4.2449", "", ""),
    AppSpec("Slack", "com.tinyspeck.chatlyio", "24.12", "", ""),
    AppSpec("Zoom", "us.zoom.videomeetings", "6.3", "", ""),
    AppSpec("Microsoft Teams", "com.microsoft.skype.teams", "6.27", "", ""),
)

# MDM commands an enrolment runs first, as (command_type, request_type).
INITIAL_COMMANDS: tuple[tuple[str, str], ...] = (
    ("SetInitialConfiguration", "Settings"),
    ("DeviceConfigured", "DeviceConfigured"),
    ("DeviceInformation", "DeviceInformation"),
    ("SecurityInfo", "SecurityInfo"),
    ("ProfileList", "ProfileList"),
    ("InstalledApplicationList", "InstalledApplicationList"),
    ("CertificateList", "CertificateList"),
    ("AvailableOSUpdates", "AvailableOSUpdates"),
)

# MDM commands a device action queues, as (command_type, request_type).
ACTION_COMMANDS: dict[str, tuple[tuple[str, str], ...]] = {
    "blankpush": (),
    "updateinventory": (
        ("DeviceInformation", "DeviceInformation"),
        ("SecurityInfo", "SecurityInfo"),
        ("InstalledApplicationList", "InstalledApplicationList"),
        ("ProfileList", "ProfileList"),
    ),
    "dailycheckin": (
        ("DeviceInformation", "DeviceInformation"),
        ("SecurityInfo", "SecurityInfo"),
    ),
    "renewmdmprofile": (("InstallProfile", "InstallProfile"),),
    "reinstallagent": (("InstallEnterpriseApplication", "InstallEnterpriseApplication"),),
    "restart": (("RestartDevice", "RestartDevice"),),
    "shutdown": (("ShutDownDevice", "ShutDownDevice"),),
    "lock": (("DeviceLock", "DeviceLock"),),
    "enablelostmode": (("EnableLostMode", "EnableLostMode"),),
    "disablelostmode": (("DisableLostMode", "DisableLostMode"),),
    "playlostmodesound": (("PlayLostModeSound", "PlayLostModeSound"),),
    "updatelocation": (("DeviceLocation", "DeviceLocation"),),
}
