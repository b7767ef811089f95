"""The daemon over a simulated tenant, one sweep at a time, for the fault tests.

A :class:`Rig` is an :class:`~monitor.app.App` on a fake clock (which jumps by itself
when something sleeps on it, so retries and backoffs cost no real time), a simulated
Kandji tenant on loopback sharing that clock, and a webhook receiver reached through
apprise ``json://``. Tests drive it sweep by sweep and read the truth from the
simulator: which devices' data a sweep really saw, which items really fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from monitor.app import App
from monitor.clock import FakeClock
from monitor.config import Config, load_config
from monitor.models import Alert, AlertState, SweepStats
from monitor.simulator.kandji import KandjiSimulator, start_kandji
from tests.servers import Webhook, webhook_server

TOKEN = "rig-kandji-token-3f9b2d"
SOURCE = "acme"
ITEM_RULE = "kandji.library-item.error"

CONFIG = """\
sources:
  - name: {source}
    kind: kandji
    url: {url}
    token: ${{RIG_TOKEN}}
    strategy: {strategy}
    page_size: {page_size}
    timeout: {timeout}
    unhealthy_after: 10m
    retry: {{max_attempts: 3, backoff_base: 50ms, backoff_max: 200ms, max_retry_after: 30s}}
    budget: {{requests_per_hour: {per_hour}, burst_per_second: 1000, concurrency: 8}}
receivers:
  - name: hook
    urls: ["json://127.0.0.1:{hook_port}/hook"]
route:
  receiver: hook
  group_by: [rule_id, source]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 24h
inhibit:
  device_gone: {device_gone}
store:
  path: state.db
web:
  enabled: false
"""


def rig_config(
    tmp_path: Path,
    url: str,
    hook_port: int,
    *,
    page_size: int = 300,
    timeout: str = "2s",
    per_hour: int = 100_000,
    device_gone: bool = True,
    strategy: str = "per_device",
) -> Config:
    """The config of a rig: one Kandji source, one webhook receiver, no status page."""
    path = tmp_path / "config.yaml"
    path.write_text(
        CONFIG.format(
            source=SOURCE,
            url=url,
            hook_port=hook_port,
            page_size=page_size,
            timeout=timeout,
            per_hour=per_hour,
            device_gone=str(device_gone).lower(),
            strategy=strategy,
        )
    )
    return load_config(path, env={"RIG_TOKEN": TOKEN})


@dataclass
class Rig:
    """An App, the simulated tenant it watches and the webhook it notifies."""

    app: App
    sim: KandjiSimulator
    clock: FakeClock
    hook: Webhook

    async def sweep(self) -> SweepStats:
        """One sweep of the source; the simulator's request log starts afresh."""
        self.sim.requests.clear()
        return await self.app.sweep_source(SOURCE)

    async def deliver(self) -> None:
        """Queue what every group has to say now and deliver it."""
        await self.app.flush_notifications(ignore_wait=True)
        await self.app.deliver_notifications(timeout=30.0)

    async def alerts(self) -> dict[str, Alert]:
        """Every stored alert of the source."""
        return await self.app.status.stored_alerts(SOURCE)

    def metric(self, name: str, **labels: str) -> float:
        """A sample of the daemon's metrics (0 when the series does not exist)."""
        value = self.app.metrics.registry.get_sample_value(
            f"compliance_monitor_{name}", labels
        )
        return 0.0 if value is None else value

    # -------------------------------------------------------------- simulator truth

    def checked_in(self, index: int) -> bool:
        """Whether the device checked in within the week (older ones are muted)."""
        seen = self.sim.fleet.device(index).last_check_in
        return seen is not None and (self.sim.fleet.now() - seen).days < 7

    def plant_errors(self, devices: int) -> list[tuple[str, str]]:
        """Put one passing library item in ERROR on up to ``devices`` devices that
        check in; returns (device id, item id) of each."""
        fleet = self.sim.fleet
        planted: list[tuple[str, str]] = []
        for i in fleet.device_indices():
            if len(planted) == devices:
                break
            if not self.checked_in(i):
                continue
            passing = [s for s in fleet.device_items(i) if s.status == "PASS"]
            if passing:
                planted.append((fleet.device_id(i), passing[0].item.id))
                fleet.set_item_status(fleet.device_id(i), passing[0].item.id, "ERROR")
        return planted

    def repair(self, planted: list[tuple[str, str]]) -> None:
        """Set every planted item back to PASS in the simulator."""
        for device_id, item_id in planted:
            if self.sim.fleet.device_index(device_id) is not None:
                self.sim.fleet.set_item_status(device_id, item_id, "PASS")

    def seen_devices(self) -> set[str]:
        """Devices whose ``/status`` the last sweep received whole (an untouched 200)."""
        out = set()
        for record in self.sim.requests.records:
            if (
                record.route == "/api/v1/devices/{device_id}/status"
                and record.status == 200
                and record.fault is None
            ):
                out.add(record.path.split("/")[4])
        return out

    def live_devices(self) -> set[str]:
        """Devices the tenant has now."""
        fleet = self.sim.fleet
        return {fleet.device_id(i) for i in fleet.device_indices()}


def states(alerts: dict[str, Alert], rule: str = ITEM_RULE) -> dict[tuple[str, str], AlertState]:
    """(device id, subject id) -> state, for one rule's alerts."""
    return {
        (a.finding.device_id, a.finding.subject_id): a.state
        for a in alerts.values()
        if a.rule_id == rule
    }


@asynccontextmanager
async def open_rig(
    tmp_path: Path,
    *,
    devices: int = 16,
    seed: int = 3,
    page_size: int = 300,
    timeout: str = "2s",
    per_hour: int = 100_000,
    sim_per_hour: int | None = None,
    latency_ms: float = 0.0,
    device_gone: bool = True,
    strategy: str = "per_device",
) -> AsyncIterator[Rig]:
    """Start the simulator, the webhook and the App; stop them all afterwards."""
    clock = FakeClock(autojump=True)
    runner: web.AppRunner
    runner, url, sim = await start_kandji(
        "127.0.0.1",
        0,
        devices=devices,
        seed=seed,
        token=TOKEN,
        per_second=None,
        per_hour=sim_per_hour,
        clock=clock,
        latency_ms=latency_ms,
    )
    try:
        async with webhook_server() as (hook, port):
            config = rig_config(
                tmp_path,
                url,
                port,
                page_size=page_size,
                timeout=timeout,
                per_hour=per_hour,
                device_gone=device_gone,
                strategy=strategy,
            )
            async with App(config, clock=clock) as app:
                yield Rig(app, sim, clock, hook)
    finally:
        await runner.cleanup()
