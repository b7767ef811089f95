"""A simulated Applivery organization (Windows devices), served by aiohttp.

Routes, following ``shared/applivery/API-NOTES.md`` (all under ``/v1``)::

    GET  /organizations/{organizationId}                                      the workspace
    GET  /organizations/{organizationId}/mdm/windows/enterprise/devices       page/limit
    GET  /organizations/{organizationId}/mdm/windows/enterprise/devices/{winDeviceId}
    POST /organizations/{organizationId}/mdm/windows/enterprise/devices/{winDeviceId}/info

``organizationId`` is the workspace slug or its 24-hex id; ``winDeviceId`` the device
id, its serial number or its IMEI. Answers use the ``{"status": true, "data": ...}``
envelope; lists are mongoose-paginate pages (``items``, ``hasNextPage``, ...); errors
are ``{"status": false, "error": {"code", "message"}}``: 401 with 4002 (no token) or
4004 (wrong token), 404 with 3001 (unknown organization or device). The validation
error (400, code 1001) is this simulator's own invention: the real shape is not
documented.

The fleet is seeded: the same ``seed`` gives the same devices, some of them
non-compliant, silent, waiting for an information refresh, failing to sync, deleted
or in an unknown state. :meth:`AppliveryFleet.advance` (or ``evolve_every``) changes
it over time. A selective refresh marks the categories pending and completes
``refresh_delay`` seconds later on the simulator's clock (the device reports then).

Rate limits, faults, latency and the request log come from
:class:`~monitor.simulator.common.HttpSimulator` (the 429 body is Kong-like: Applivery's
is not documented). Tests reach the simulator through ``app[APPLIVERY_SIM_KEY]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import math
import random
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import structlog
from aiohttp import web
from pydantic import SecretStr

from monitor.clock import Clock, SystemClock
from monitor.simulator.common import HttpSimulator
from monitor.simulator.server import serve_app

log = structlog.get_logger(__name__)

# A public, well-known value: the simulator guards nothing real.
DEFAULT_TOKEN: Final = "applivery-simulator-token"  # noqa: S105
DEFAULT_ORGANIZATION: Final = "acme-workspace"

API_PREFIX: Final = "/v1"
ORG: Final = "/v1/organizations/{organization_id}"
DEVICES: Final = ORG + "/mdm/windows/enterprise/devices"
DEVICE: Final = DEVICES + "/{win_device_id}"
DEVICE_INFO: Final = DEVICE + "/info"

DEFAULT_LIMIT: Final = 10
"""mongoose-paginate's default page size, used when ``limit`` is absent."""

STATES: Final = ("PROVISIONING", "ACTIVE", "DELETED", "DELETE_REQUESTED", "UNKNOWN")
INFO_CATEGORIES: Final = ("hardware", "applications", "certificates", "network", "security")
"""Categories the simulator accepts (the reference shows the first three)."""

_ORG_RE: Final = re.compile(r"(([a-fA-F0-9]{24})|([a-zA-Z0-9\-]{3,}))", re.ASCII)
_WIN_ID_RE: Final = re.compile(r"(([a-fA-F0-9]{24})|(\w{1,}))", re.ASCII)

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
_COMMAND_NOT_FOUND: Final = {
    "isError": True,
    "status": 404,
    "reason": "CommandNotFound",
    "attempts": [],
}


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
        found = self.find(win_device_id)
        if found is None:
            raise KeyError(win_device_id)
        return found

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


# --------------------------------------------------------------------------- bodies


def device_body(d: WinDevice, fleet: AppliveryFleet) -> dict[str, Any]:
    """A Windows device as the list and the get-one answer carry it."""
    config: dict[str, Any] = {
        "./Device/Vendor/MSFT/Policy/Config/Security/RequireDeviceEncryption": "1",
        "./Device/Vendor/MSFT/DevDetail/SwV": d.os_version,
    }
    for node in d.config_errors:
        config[node] = dict(_COMMAND_NOT_FOUND)
    compliance: dict[str, Any] | None = None
    if d.compliant is not None:
        compliance = {"compliant": d.compliant, "lastCheck": iso_ms(d.compliance_checked_at)}
    summary: dict[str, Any] = {
        "name": d.hostname,
        "osVersion": d.os_version,
        "osVersionName": d.os_version_name,
        "os": "Windows",
        "serialNumber": d.serial,
        "imei": d.imei,
        "model": d.model,
        "battery": f"{40 + d.index % 60}%",
        "expirationTimestamp": iso_ms(d.enrolled + timedelta(days=365 * 3)),
        "supervised": True,
        "image": "",
    }
    if compliance is not None:
        summary["compliance"] = compliance
    report = d.last_report
    return {
        "id": d.id,
        "organizationId": fleet.organization_id,
        "winEnterpriseId": fleet.enterprise_id,
        "mdmUser": {"id": d.user_id, "email": d.user_email},
        "displayName": d.display_name,
        "tags": list(d.tags),
        "winId": d.win_id,
        "state": d.state,
        "config": config,
        "configDates": {
            "securityPolicy": iso_ms(report or d.enrolled),
            "applications": iso_ms((report or d.enrolled) - timedelta(hours=3)),
        },
        "customConfig": {},
        "summary": summary,
        "scripts": [],
        "scriptsInfo": [],
        "lastStatusReportTime": iso_ms(report) if report is not None else None,
        "type": "windows",
        "subType": "device",
        "stateHistory": [{"state": s, "date": iso_ms(at)} for s, at in d.history],
        "lastLocation": {},
        "refreshInfoNeeded": list(d.refresh_needed),
        "enrolledDate": iso_ms(d.enrolled),
        "winPolicy": d.policy_id,
        "deviceWinPolicy": {"id": d.policy_id, "name": d.policy_name, "applicationsInfo": []},
        "winPolicyAssignments": [{"winPolicyId": d.policy_id, "priority": 1}],
        "winPolicyAssignmentsEnforced": [],
        "smartAttributeAssignments": [],
        "smartAttributeAssignmentsEnforced": [],
        "smartAttributes": [],
        "lastSyncError": d.sync_error,
        "createdAt": iso_ms(d.enrolled),
        "updatedAt": iso_ms(d.updated),
    }


def ok(data: Any, *, status: int = 200) -> web.Response:
    """``{"status": true, "data": data}``."""
    return web.json_response({"status": True, "data": data}, status=status)


def error(status: int, code: int, message: str) -> web.Response:
    """``{"status": false, "error": {"code", "message"}}``."""
    return web.json_response(
        {"status": False, "error": {"code": code, "message": message}}, status=status
    )


def _not_found() -> web.Response:
    return error(404, 3001, "Entity not found")


def _invalid(message: str) -> web.Response:
    return error(400, 1001, f"Validation error: {message}")


# --------------------------------------------------------------------------- the simulator


class AppliverySimulator(HttpSimulator):
    """One simulated organization: its fleet, its token and the HTTP knobs.

    ``max_limit`` caps ``limit`` (larger values are clamped silently, as the API notes
    say some endpoints do). ``evolve_every`` (seconds) advances the fleet in the
    background on the fleet's clock.
    """

    def __init__(
        self,
        fleet: AppliveryFleet,
        *,
        token: str | SecretStr,
        seed: int = 0,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        per_second: int | None = None,
        per_hour: int | None = 10_000,
        evolve_every: float | None = None,
        max_limit: int = 1000,
        max_records: int = 100_000,
    ) -> None:
        super().__init__(
            clock=fleet.clock,
            seed=seed,
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            per_second=per_second,
            per_hour=per_hour,
            max_records=max_records,
        )
        self.fleet = fleet
        self.token = token if isinstance(token, SecretStr) else SecretStr(token)
        self.evolve_every = evolve_every
        self.max_limit = max_limit
        self.evolutions = 0

    def __repr__(self) -> str:
        return f"AppliverySimulator(devices={self.fleet.device_count}, token=**********)"

    async def authenticate(self, request: web.Request) -> web.StreamResponse | None:
        """401 with 4002 without a bearer token, 4004 with a wrong one; else None."""
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        if not header or scheme.lower() != "bearer" or not presented.strip():
            return error(401, 4002, "No auth token")
        expected = self.token.get_secret_value().encode()
        if not hmac.compare_digest(presented.strip().encode(), expected):
            return error(401, 4004, "Invalid Token")
        self.fleet.apply_due()
        return None

    async def evolve_forever(self) -> None:
        """Advance the fleet every ``evolve_every`` seconds of the fleet's clock."""
        every = self.evolve_every
        if not every or every <= 0:
            return
        while True:
            await self.fleet.clock.sleep(every)
            changes = self.fleet.advance(every)
            self.evolutions += 1
            log.info(
                "simulator.applivery.evolved",
                changes=len(changes),
                devices=self.fleet.device_count,
            )


APPLIVERY_SIM_KEY: Final = web.AppKey("applivery_simulator", AppliverySimulator)
"""Where the app keeps its :class:`AppliverySimulator` (``app[APPLIVERY_SIM_KEY]``)."""


def _sim(request: web.Request) -> AppliverySimulator:
    return request.app[APPLIVERY_SIM_KEY]


def _organization_error(request: web.Request) -> web.Response | None:
    org = request.match_info["organization_id"]
    if _ORG_RE.fullmatch(org) is None:
        return _invalid("organizationId does not match its pattern")
    if not _sim(request).fleet.knows_organization(org):
        return _not_found()
    return None


def _device(request: web.Request) -> WinDevice | web.Response:
    denied = _organization_error(request)
    if denied is not None:
        return denied
    win_device_id = request.match_info["win_device_id"]
    if _WIN_ID_RE.fullmatch(win_device_id) is None:
        return _invalid("winDeviceId does not match its pattern")
    found = _sim(request).fleet.find(win_device_id)
    return _not_found() if found is None else found


def _positive_int(request: web.Request, name: str, default: int) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= 1 else None


async def get_organization(request: web.Request) -> web.Response:
    """``GET /organizations/{organizationId}``: the workspace's id, slug and name."""
    denied = _organization_error(request)
    if denied is not None:
        return denied
    fleet = _sim(request).fleet
    return ok(
        {
            "id": fleet.organization_id,
            "slug": fleet.organization,
            "name": fleet.organization.replace("-", " ").title(),
        }
    )


async def list_devices(request: web.Request) -> web.Response:
    """``GET .../devices``: a mongoose-paginate page inside the envelope."""
    denied = _organization_error(request)
    if denied is not None:
        return denied
    sim = _sim(request)
    page = _positive_int(request, "page", 1)
    limit = _positive_int(request, "limit", DEFAULT_LIMIT)
    if page is None or limit is None:
        return _invalid("page and limit must be positive integers")
    limit = min(limit, sim.max_limit)
    show_deleted = request.query.get("show-deleted", "false").lower() == "true"
    devices = sim.fleet.listed(show_deleted=show_deleted)
    tags = request.query.getall("tags", [])
    if tags:
        wanted = {t for raw in tags for t in raw.split(",") if t}
        devices = [d for d in devices if wanted.intersection(d.tags)]
    total = len(devices)
    pages = max(1, -(-total // limit))
    start = (page - 1) * limit
    items = [device_body(d, sim.fleet) for d in devices[start : start + limit]]
    return ok(
        {
            "items": items,
            "totalDocs": total,
            "limit": limit,
            "page": page,
            "totalPages": pages,
            "pagingCounter": start + 1,
            "hasPrevPage": page > 1,
            "hasNextPage": page < pages,
            "prevPage": page - 1 if page > 1 else None,
            "nextPage": page + 1 if page < pages else None,
        }
    )


async def get_device(request: web.Request) -> web.Response:
    """``GET .../devices/{winDeviceId}``: the device by id, serial number or IMEI."""
    found = _device(request)
    if isinstance(found, web.Response):
        return found
    return ok(device_body(found, _sim(request).fleet))


async def refresh_info(request: web.Request) -> web.Response:
    """``POST .../devices/{winDeviceId}/info`` with ``{"info": [...]}``.

    ``data.status`` is true when the request was sent to the device (an active device
    that reports), false otherwise.
    """
    found = _device(request)
    if isinstance(found, web.Response):
        return found
    try:
        payload = json.loads(await request.read() or b"null")
    except ValueError:
        return _invalid("the body is not JSON")
    info = payload.get("info") if isinstance(payload, dict) else None
    if (
        not isinstance(info, list)
        or not info
        or not all(isinstance(c, str) and c in INFO_CATEGORIES for c in info)
    ):
        return _invalid(f"info must be a non-empty list of {', '.join(INFO_CATEGORIES)}")
    sent = _sim(request).fleet.request_refresh(found, info)
    return ok({"status": sent})


async def _express_not_found(request: web.Request) -> web.Response:
    return web.Response(text=f"Cannot {request.method} {request.path}", status=404)


@web.middleware
async def _unknown_routes(request: web.Request, handler: Any) -> web.StreamResponse:
    """Unknown URLs answer like Express does: 404 with a short text."""
    try:
        response: web.StreamResponse = await handler(request)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        return await _express_not_found(request)
    return response


def make_applivery_app(sim: AppliverySimulator) -> web.Application:
    """Build the aiohttp application for one simulated organization.

    The app runs the background evolve task (when ``sim.evolve_every`` is set) and
    stops it on clean-up.
    """
    app = web.Application(middlewares=[*sim.middlewares(sim.authenticate), _unknown_routes])
    app[APPLIVERY_SIM_KEY] = sim
    app.add_routes(
        [
            web.get(ORG, get_organization),
            web.get(DEVICES, list_devices),
            web.get(DEVICE, get_device),
            web.post(DEVICE_INFO, refresh_info),
        ]
    )
    app.cleanup_ctx.append(_lifecycle)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    sim = app[APPLIVERY_SIM_KEY]
    task = asyncio.create_task(sim.evolve_forever()) if sim.evolve_every else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# --------------------------------------------------------------------------- serving


async def start_applivery(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    devices: int = 50,
    seed: int = 1,
    token: str | SecretStr = DEFAULT_TOKEN,
    organization: str = DEFAULT_ORGANIZATION,
    latency_ms: float = 0.0,
    jitter_ms: float = 0.0,
    per_second: int | None = None,
    per_hour: int | None = 10_000,
    evolve_every: float | None = None,
    max_limit: int = 1000,
    refresh_delay: float = 120.0,
    rates: FleetRates | None = None,
    clock: Clock | None = None,
) -> tuple[web.AppRunner, str, AppliverySimulator]:
    """Serve a simulated Applivery organization on ``host:port`` (port 0 picks one).

    Returns ``(runner, base_url, sim)``; ``base_url`` ends in ``/v1``, ready for an
    ``applivery`` source's ``url``; ``await runner.cleanup()`` stops it.
    """
    clock = clock or SystemClock()
    fleet = AppliveryFleet(
        devices,
        seed=seed,
        clock=clock,
        organization=organization,
        rates=rates,
        refresh_delay=refresh_delay,
    )
    sim = AppliverySimulator(
        fleet,
        token=token,
        seed=seed,
        latency_ms=latency_ms,
        jitter_ms=jitter_ms,
        per_second=per_second,
        per_hour=per_hour,
        evolve_every=evolve_every,
        max_limit=max_limit,
    )
    runner, root_url = await serve_app(make_applivery_app(sim), host, port)
    base_url = root_url + API_PREFIX
    log.info(
        "simulator.applivery.started",
        url=base_url,
        organization=organization,
        devices=fleet.device_count,
        seed=seed,
        per_second=per_second,
        per_hour=per_hour,
        evolve_every=evolve_every,
    )
    return runner, base_url, sim


async def serve_applivery_forever(
    host: str = "127.0.0.1",
    port: int = 8766,
    *,
    stop: asyncio.Event | None = None,
    **options: Any,
) -> None:
    """Serve a simulated organization until cancelled or until ``stop`` is set.

    ``options`` are those of :func:`start_applivery`. The caller owns signal handling.
    """
    runner, base_url, sim = await start_applivery(host, port, **options)
    try:
        if stop is None:
            await asyncio.Event().wait()
        else:
            await stop.wait()
    finally:
        await runner.cleanup()
        log.info("simulator.applivery.stopped", url=base_url, requests=sim.requests.total)


__all__ = [
    "APPLIVERY_SIM_KEY",
    "DEFAULT_ORGANIZATION",
    "DEFAULT_TOKEN",
    "DEVICE",
    "DEVICES",
    "DEVICE_INFO",
    "INFO_CATEGORIES",
    "STATES",
    "AppliveryFleet",
    "AppliverySimulator",
    "FleetChange",
    "FleetRates",
    "WinDevice",
    "device_body",
    "make_applivery_app",
    "serve_applivery_forever",
    "start_applivery",
]
