"""Fixtures for the action tests: simulated Kandji and Applivery tenants on loopback,
their clients, a real SQLite store, and builders of firing transitions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from monitor.actions import ActionRunner
from monitor.clock import FakeClock
from monitor.config import ActionLimits, ActionsConfig, BudgetConfig, RetryConfig
from monitor.engine import RuleSet, load_rules_text
from monitor.models import (
    Alert,
    AlertState,
    Device,
    Finding,
    Severity,
    SubjectKind,
    Transition,
)
from monitor.simulator.applivery import AppliverySimulator, start_applivery
from monitor.simulator.kandji import KandjiSimulator, start_kandji
from monitor.sources.applivery.client import AppliveryClient
from monitor.sources.applivery.config import AppliverySourceConfig
from monitor.sources.applivery.mapping import to_device as applivery_device
from monitor.sources.kandji.client import KandjiClient
from monitor.sources.kandji.config import KandjiSourceConfig
from monitor.sources.kandji.mapping import to_device as kandji_device
from monitor.store import SqlStore, open_store

KANDJI_TOKEN = "kandji-actions-token-7f1e"
APPLIVERY_TOKEN = "applivery-actions-token-2c9d"
ORGANIZATION = "acme-workspace"

FAST_RETRY = RetryConfig(
    max_attempts=3,
    backoff_base=timedelta(seconds=1),
    backoff_max=timedelta(seconds=4),
    max_retry_after=timedelta(minutes=5),
)
BUDGET = BudgetConfig(requests_per_hour=100_000, burst_per_second=1000, concurrency=8)


def kandji_config(url: str, token: str = KANDJI_TOKEN) -> KandjiSourceConfig:
    """A Kandji source named ``apple`` for tests."""
    return KandjiSourceConfig(
        name="apple", kind="kandji", url=url, token=SecretStr(token),
        timeout=timedelta(seconds=5), budget=BUDGET, retry=FAST_RETRY,
    )


def applivery_config(url: str, token: str = APPLIVERY_TOKEN) -> AppliverySourceConfig:
    """An Applivery source named ``windows`` for tests."""
    return AppliverySourceConfig(
        name="windows", kind="applivery", url=url, token=SecretStr(token),
        organization=ORGANIZATION, page_size=50,
        timeout=timedelta(seconds=5), budget=BUDGET, retry=FAST_RETRY,
    )


def actions_config(
    *,
    enabled: bool = True,
    dry_run: bool = False,
    per_action: dict[str, ActionLimits] | None = None,
    **limits: Any,
) -> ActionsConfig:
    """Actions switched on (unless told), with the given default limits."""
    return ActionsConfig(
        enabled=enabled, dry_run=dry_run, limits=ActionLimits(**limits),
        per_action=per_action or {},
    )


def rules(text: str) -> dict[str, Any]:
    """Rules by id from a YAML rule document."""
    ruleset: RuleSet = load_rules_text(text)
    return {r.id: r for r in ruleset.rules}


def firing(
    rule_id: str,
    device: Device,
    *,
    at: Any,
    severity: Severity = Severity.WARNING,
    baseline: bool = False,
    previous: AlertState | None = None,
) -> Transition:
    """A transition to firing of a device-level alert of ``rule_id`` on ``device``."""
    finding = Finding(
        rule_id=rule_id, source=device.source, source_kind=device.source_kind,
        device_id=device.device_id, device_name=device.name, device_serial=device.serial,
        subject_kind=SubjectKind.DEVICE, subject_id=device.device_id, subject_name=device.name,
        subject_status="", severity=severity, summary=f"{device.name}: {rule_id}",
    )
    alert = Alert(
        fingerprint=finding.fingerprint, state=AlertState.FIRING, finding=finding,
        active_since=at, last_seen=at, firing_since=at, baseline=baseline,
    )
    return Transition(finding.fingerprint, previous, AlertState.FIRING, at, alert)


def resolved(transition: Transition, *, at: Any) -> Transition:
    """The resolution of a firing transition's alert."""
    alert = Alert(
        fingerprint=transition.fingerprint, state=AlertState.RESOLVED,
        finding=transition.alert.finding, active_since=transition.alert.active_since,
        last_seen=at, firing_since=transition.alert.firing_since, resolved_at=at,
    )
    return Transition(transition.fingerprint, AlertState.FIRING, AlertState.RESOLVED, at, alert)


@pytest.fixture
def clock() -> FakeClock:
    # Autojump: retries and Retry-After waits pass in simulated time.
    return FakeClock(autojump=True)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    """A real SQLite store in a temporary file."""
    s = open_store(tmp_path / "state.db")
    await s.open()
    yield s
    await s.close()


@dataclass
class KandjiEnv:
    """A simulated Kandji tenant and a client for it."""

    url: str
    sim: KandjiSimulator
    client: KandjiClient

    def devices(self, platform: str) -> list[Device]:
        """The tenant's devices of one platform, as the sweep maps them."""
        fleet = self.sim.fleet
        out = []
        for i in fleet.device_indices():
            d = fleet.device(i)
            if d.platform == platform:
                out.append(d.id)
        return [self.device(did) for did in out]

    def device(self, device_id: str) -> Device:
        """One device, mapped as a sweep would from its record."""
        from monitor.simulator.kandji import bodies as kandji_bodies
        from monitor.sources.kandji.models import KDevice

        fleet = self.sim.fleet
        index = fleet.device_index(device_id)
        assert index is not None
        record = KDevice.model_validate(kandji_bodies.device_record(fleet.device(index)))
        return kandji_device("apple", record)

    def writes(self) -> list[tuple[str, str, Any]]:
        """Every write the tenant received: (method, path, body)."""
        return [(r.method, r.path, r.body) for r in self.sim.requests if r.method != "GET"]


@dataclass
class AppliveryEnv:
    """A simulated Applivery organization and a client for it."""

    url: str
    sim: AppliverySimulator
    client: AppliveryClient

    def device(self, win_device_id: str) -> Device:
        """One device, mapped as a sweep would from its record."""
        from monitor.simulator.applivery import device_body
        from monitor.sources.applivery.models import AWinDevice

        d = self.sim.fleet.require(win_device_id)
        body = device_body(d, self.sim.fleet)
        return applivery_device("windows", AWinDevice.model_validate(body))

    def active(self) -> list[Device]:
        """Devices that are ACTIVE and reporting (a refresh reaches them)."""
        return [
            self.device(d.id)
            for d in self.sim.fleet.devices
            if d.state == "ACTIVE" and not d.silent
        ]

    def writes(self) -> list[tuple[str, str, Any]]:
        """Every write the organization received: (method, path, body)."""
        return [(r.method, r.path, r.body) for r in self.sim.requests if r.method != "GET"]


@pytest.fixture
async def kandji(clock: FakeClock) -> AsyncIterator[KandjiEnv]:
    runner, url, sim = await start_kandji(
        clock=clock, token=KANDJI_TOKEN, devices=60, seed=7, per_second=None, per_hour=None
    )
    client = KandjiClient(kandji_config(url), clock=clock)
    yield KandjiEnv(url, sim, client)
    await client.close()
    await runner.cleanup()


@pytest.fixture
async def applivery(clock: FakeClock) -> AsyncIterator[AppliveryEnv]:
    runner, url, sim = await start_applivery(
        clock=clock, token=APPLIVERY_TOKEN, devices=40, seed=3, organization=ORGANIZATION,
        per_second=None, per_hour=None,
    )
    client = AppliveryClient(applivery_config(url), clock=clock)
    yield AppliveryEnv(url, sim, client)
    await client.close()
    await runner.cleanup()


def make_runner(
    config: ActionsConfig,
    store: SqlStore,
    clock: FakeClock,
    *,
    kandji: KandjiEnv | None = None,
    applivery: AppliveryEnv | None = None,
) -> ActionRunner:
    """A runner over the given tenants' clients and the store."""
    clients: dict[str, KandjiClient | AppliveryClient] = {}
    if kandji is not None:
        clients["apple"] = kandji.client
    if applivery is not None:
        clients["windows"] = applivery.client
    return ActionRunner(config, store, clients, clock)


def by_id(devices: Sequence[Device]) -> dict[str, Device]:
    """Devices keyed by id, as a sweep outcome holds them."""
    return {d.device_id: d for d in devices}
