"""The seeded, evolving fleet of one simulated Applivery organization (Windows PCs).

The same ``seed`` gives the same devices, some of them non-compliant, silent, waiting
for an information refresh, failing to sync, deleted or in an unknown state.
:meth:`AppliveryFleet.advance` changes it over time. A selective refresh marks the
categories pending and completes ``refresh_delay`` seconds later on the fleet's clock
(the device reports then). No I/O here.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from monitor.clock import Clock
from monitor.simulator.lookup import known

DEFAULT_ORGANIZATION: Final = "acme-workspace"

STATES: Final = ("PROVISIONING", "ACTIVE", "DELETED", "DELETE_REQUESTED", "UNKNOWN")
INFO_CATEGORIES: Final = ("hardware", "applications", "certificates", "network", "security")
"""Categories the simulator accepts (the reference shows the first three)."""

_OS_BUILDS: Final = (
    ("10.0.19045.3803", "Windows 10 Pro"),
    ("10.0.22631.3296", "Windows 11 Pro"),
    ("10.0.22631.4460", "Windows 11 Enterprise"),
    ("10.0.26100.2605", "Windows 11 Pro"),
    ("10.0.26200.6584", "Windows 11 Enterprise"),
)
_MODELS: Final = (
    "Latitude 5440",
    "ThinkPad T14 Gen 4",
    "EliteBook 840 G10",
    "Surface Laptop 5",
    "OptiPlex 7010",
)
_FIRST_NAMES: Final = ("ana", "ben", "chloe", "dev", "elena", "farid", "grace", "hugo", "ines")
_TAGS: Final = ("sales", "finance", "engineering", "kiosk", "remote", "vip")
_FAILING_NODES: Final = (
    "./Device/Vendor/MSFT/BitLocker/Status/DeviceEncryptionStatus",
    "./Device/Vendor/MSFT/Policy/Result/Defender/AllowRealtimeMonitoring",
    "./Device/Vendor/MSFT/DeviceStatus/Firewall/Status",
)

def iso_ms(dt: datetime) -> str:
    """``2026-02-10T12:00:00.000Z``, the JavaScript ``toISOString`` shape."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _hex24(*parts: object) -> str:
    raw = ":".join(str(p) for p in parts).encode()
    return hashlib.blake2b(raw, digest_size=12).hexdigest()


@dataclass(frozen=True, slots=True)
class FleetRates:
    """How a seeded fleet starts, and how fast it changes (per device per hour)."""

    non_compliant: float = 0.10
    unknown_compliance: float = 0.04
    silent: float = 0.06
    refresh_needed: float = 0.08
    sync_error: float = 0.04
    deleted: float = 0.03
    delete_requested: float = 0.02
    unknown_state: float = 0.02
    provisioning: float = 0.03
    config_error: float = 0.05
    # Evolution, per device per hour of simulated time.
    compliance_flip_per_hour: float = 0.01
    silence_per_hour: float = 0.002
    recover_per_hour: float = 0.2
    refresh_need_per_hour: float = 0.005
    enrol_per_hour: float = 0.002
    delete_per_hour: float = 0.001


@dataclass(slots=True)
class WinDevice:
    """One simulated Windows PC (mutable: the fleet changes it)."""

    index: int
    id: str
    win_id: str
    serial: str
    imei: str
    hostname: str
    display_name: str
    model: str
    os_version: str
    os_version_name: str
    user_id: str
    user_email: str
    tags: list[str]
    policy_id: str
    policy_name: str
    state: str
    compliant: bool | None
    compliance_checked_at: datetime
    last_report: datetime | None
    refresh_needed: list[str]
    sync_error: dict[str, Any] | None
    config_errors: list[str]
    enrolled: datetime
    updated: datetime
    silent: bool = False
    pending: dict[str, datetime] = field(default_factory=dict)
    history: list[tuple[str, datetime]] = field(default_factory=list)

    def set_state(self, state: str, at: datetime) -> None:
        """Move to ``state`` and remember it in the history."""
        if state not in STATES:
            raise ValueError(f"state must be one of {STATES}")
        if state != self.state:
            self.state = state
            self.history.append((state, at))
        self.updated = at


@dataclass(frozen=True, slots=True)
class FleetChange:
    """One change :meth:`AppliveryFleet.advance` made."""

    device_id: str
    what: str
    old: Any
    new: Any


class AppliveryFleet:
    """The Windows devices of one simulated organization, seeded and evolving."""

    def __init__(
        self,
        devices: int = 50,
        *,
        seed: int = 1,
        clock: Clock,
        organization: str = DEFAULT_ORGANIZATION,
        rates: FleetRates | None = None,
        refresh_delay: float = 120.0,
    ) -> None:
        self.clock = clock
        self.seed = seed
        self.organization = organization
        self.organization_id = _hex24("org", organization, seed)
        self.enterprise_id = _hex24("enterprise", organization, seed)
        self.rates = rates or FleetRates()
        self.refresh_delay = refresh_delay
        self.policies = [
            (_hex24("policy", seed, n), name)
            for n, name in enumerate(("Corporate baseline", "Kiosk lockdown", "Developers"))
        ]
        self._rng = random.Random(f"applivery:{seed}")
        self._evolve_rng = random.Random(f"applivery-evolve:{seed}")
        self.devices: list[WinDevice] = []
        for _ in range(devices):
            self._create(self._rng, initial=True)

    # ------------------------------------------------------------------ building

    def _create(self, rng: random.Random, *, initial: bool) -> WinDevice:
        i = len(self.devices)
        now = self.clock.now()
        rates = self.rates
        build, build_name = _OS_BUILDS[rng.randrange(len(_OS_BUILDS))]
        first = _FIRST_NAMES[rng.randrange(len(_FIRST_NAMES))]
        policy_id, policy_name = self.policies[rng.randrange(len(self.policies))]
        hostname = f"DESKTOP-{_hex24('host', self.seed, i)[:7].upper()}"
        enrolled = now - timedelta(days=rng.uniform(20, 700)) if initial else now
        tags = sorted(rng.sample(_TAGS, rng.randrange(0, 3)))
        last_report: datetime | None = now - timedelta(minutes=rng.uniform(1, 240))
        state = "ACTIVE"
        compliant: bool | None = True
        refresh: list[str] = []
        sync_error: dict[str, Any] | None = None
        errors: list[str] = []
        silent = False
        if initial:
            roll = rng.random()
            if roll < rates.deleted:
                state = "DELETED"
            elif roll < rates.deleted + rates.delete_requested:
                state = "DELETE_REQUESTED"
            elif roll < rates.deleted + rates.delete_requested + rates.unknown_state:
                state = "UNKNOWN"
            elif roll < (
                rates.deleted + rates.delete_requested + rates.unknown_state + rates.provisioning
            ):
                state = "PROVISIONING"
            if rng.random() < rates.non_compliant:
                compliant = False
            elif rng.random() < rates.unknown_compliance:
                compliant = None
            if rng.random() < rates.silent:
                silent = True
                last_report = now - timedelta(days=rng.uniform(8, 60))
            if rng.random() < rates.refresh_needed:
                refresh = sorted(rng.sample(INFO_CATEGORIES[:3], rng.randrange(1, 3)))
            if rng.random() < rates.sync_error:
                sync_error = {
                    "date": iso_ms(now - timedelta(hours=rng.uniform(1, 48))),
                    "message": "The device did not answer the OMA-DM session",
                }
            if rng.random() < rates.config_error:
                errors = [_FAILING_NODES[rng.randrange(len(_FAILING_NODES))]]
        else:
            state = "PROVISIONING"
            compliant = None
            last_report = None
        if state == "PROVISIONING":
            compliant = None
        device = WinDevice(
            index=i,
            id=_hex24("device", self.seed, i),
            win_id=f"device-win-mdm-{_hex24('win', self.seed, i)[:8]}",
            serial=f"SN{_hex24('serial', self.seed, i)[:10].upper()}",
            imei=str(350000000000000 + int(_hex24("imei", self.seed, i)[:8], 16) % 10**12),
            hostname=hostname,
            display_name=f"{first.capitalize()}'s {_MODELS[i % len(_MODELS)].split()[0]}",
            model=_MODELS[i % len(_MODELS)],
            os_version=build,
            os_version_name=build_name,
            user_id=_hex24("user", self.seed, first),
            user_email=f"{first}@example.com",
            tags=tags,
            policy_id=policy_id,
            policy_name=policy_name,
            state=state,
            compliant=compliant,
            compliance_checked_at=(last_report or now),
            last_report=last_report,
            refresh_needed=refresh,
            sync_error=sync_error,
            config_errors=errors,
            enrolled=enrolled,
            updated=now,
            silent=silent,
            history=[("PROVISIONING", enrolled)]
            + ([(state, enrolled + timedelta(minutes=7))] if state != "PROVISIONING" else []),
        )
        self.devices.append(device)
        return device

    # ------------------------------------------------------------------ reading

    @property
    def device_count(self) -> int:
        """Devices known (deleted ones included, purged ones not)."""
        return len(self.devices)

    def find(self, win_device_id: str) -> WinDevice | None:
        """The device with this id, serial number or IMEI."""
        for d in self.devices:
            if win_device_id in (d.id, d.serial, d.imei):
                return d
        return None

    def require(self, win_device_id: str) -> WinDevice:
        """The device, or KeyError."""
        return known(self.find(win_device_id), "device", win_device_id)

    def listed(self, *, show_deleted: bool = False) -> list[WinDevice]:
        """The devices the list answers with, in enrolment order."""
        return [d for d in self.devices if show_deleted or d.state != "DELETED"]

    def knows_organization(self, organization_id: str) -> bool:
        """True for the workspace slug or its hex id."""
        return organization_id in (self.organization, self.organization_id)

    # ------------------------------------------------------------------ changing

    def apply_due(self) -> None:
        """Complete the refreshes whose time has come (the device reports)."""
        now = self.clock.now()
        for d in self.devices:
            done = [c for c, due in d.pending.items() if due <= now]
            if not done:
                continue
            for c in done:
                del d.pending[c]
            d.refresh_needed = [c for c in d.refresh_needed if c not in done]
            d.last_report = now
            d.compliance_checked_at = now
            d.silent = False
            d.updated = now

    def request_refresh(self, d: WinDevice, categories: Sequence[str]) -> bool:
        """Queue a selective refresh; True when it could be sent to the device."""
        if d.state != "ACTIVE" or d.silent:
            return False
        due = self.clock.now() + timedelta(seconds=self.refresh_delay)
        for c in categories:
            d.pending[c] = due
        return True

    def set_compliance(self, win_device_id: str, compliant: bool | None) -> None:
        """Set Applivery's verdict for a device (checked now)."""
        d = self.require(win_device_id)
        d.compliant = compliant
        d.compliance_checked_at = d.updated = self.clock.now()

    def go_silent(self, win_device_id: str, since: datetime) -> None:
        """Make a device stop reporting (its last report is ``since``)."""
        d = self.require(win_device_id)
        d.silent = True
        d.last_report = since

    def report(self, win_device_id: str) -> None:
        """Make a device report now."""
        d = self.require(win_device_id)
        d.silent = False
        d.last_report = d.updated = self.clock.now()

    def set_state(self, win_device_id: str, state: str) -> None:
        """Move a device to ``state`` (``DELETED`` hides it from the default list)."""
        self.require(win_device_id).set_state(state, self.clock.now())

    def set_refresh_needed(self, win_device_id: str, categories: Sequence[str]) -> None:
        """Set the categories a device still has to report."""
        self.require(win_device_id).refresh_needed = list(categories)

    def set_sync_error(self, win_device_id: str, message: str | None) -> None:
        """Give a device a failed last sync (or clear it with None)."""
        d = self.require(win_device_id)
        d.sync_error = (
            None if message is None else {"date": iso_ms(self.clock.now()), "message": message}
        )

    def enrol(self) -> str:
        """Enrol a new device now (it starts PROVISIONING); its id."""
        return self._create(self._evolve_rng, initial=False).id

    def purge(self, win_device_id: str) -> None:
        """Forget a device entirely: every endpoint answers 404 for it afterwards."""
        self.devices.remove(self.require(win_device_id))

    def advance(self, seconds: float) -> list[FleetChange]:
        """Evolve the fleet by ``seconds`` of simulated time; the changes made."""
        self.apply_due()
        hours = max(0.0, seconds) / 3600
        rng, rates, now = self._evolve_rng, self.rates, self.clock.now()

        def happens(rate_per_hour: float) -> bool:
            return rng.random() < 1 - math.exp(-rate_per_hour * hours)

        changes: list[FleetChange] = []
        for d in list(self.devices):
            if d.state == "DELETED":
                continue
            if d.state == "PROVISIONING" and happens(rates.recover_per_hour):
                d.set_state("ACTIVE", now)
                d.compliant = True
                d.last_report = d.compliance_checked_at = now
                changes.append(FleetChange(d.id, "state", "PROVISIONING", "ACTIVE"))
            if d.compliant is not None and happens(rates.compliance_flip_per_hour):
                changes.append(FleetChange(d.id, "compliant", d.compliant, not d.compliant))
                d.compliant = not d.compliant
                d.compliance_checked_at = now
            elif d.compliant is False and happens(rates.recover_per_hour):
                changes.append(FleetChange(d.id, "compliant", False, True))
                d.compliant = True
                d.compliance_checked_at = now
            if d.silent and happens(rates.recover_per_hour):
                d.silent = False
                changes.append(FleetChange(d.id, "silent", True, False))
            elif not d.silent and happens(rates.silence_per_hour):
                d.silent = True
                changes.append(FleetChange(d.id, "silent", False, True))
            if not d.silent and d.state == "ACTIVE":
                d.last_report = now
            if not d.refresh_needed and happens(rates.refresh_need_per_hour):
                d.refresh_needed = ["hardware"]
                changes.append(FleetChange(d.id, "refresh_needed", [], ["hardware"]))
            if happens(rates.delete_per_hour):
                old = d.state
                d.set_state("DELETE_REQUESTED" if old == "ACTIVE" else "DELETED", now)
                changes.append(FleetChange(d.id, "state", old, d.state))
        for _ in range(_draw(rng, rates.enrol_per_hour * hours * max(1, len(self.devices)))):
            changes.append(FleetChange(self.enrol(), "enrolled", None, "PROVISIONING"))
        return changes


def _draw(rng: random.Random, expected: float) -> int:
    """A whole number of events averaging ``expected``."""
    whole = int(expected)
    return whole + (1 if rng.random() < expected - whole else 0)
