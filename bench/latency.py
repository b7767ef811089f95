"""Detection latency of library-item failures, in simulated time (part of bench/sweep.py).

Everything runs in one process on one fake clock that jumps over every wait: the
simulated tenant (served over loopback, with Kong's hourly and per-second limits and,
for the rival scenario, another integration spending ``rival`` requests an hour of the
tenant's 10,000), and the :class:`~monitor.app.App` as the daemon builds it (planned
sweeper, rule engine, alert state machine, SQLite store with its outbox). The harness
sweeps at each ``interval`` boundary, as the daemon's loop does.

Failures are injected at uniformly random moments: a library item a device carries goes
``ERROR`` (``failed`` for a profile) at that moment. An injected failure's latency is
the time from that moment to the end of the sweep whose commit put its alert (firing)
in the store, together with its outbox message. Request latency on the wire is not
simulated; the per-second limit is.
"""

from __future__ import annotations

import random
import statistics
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from monitor.app import App
from monitor.clock import FakeClock
from monitor.config import ReceiverConfig, load_config
from monitor.models import AlertState
from monitor.notify.outgoing import Outgoing
from monitor.simulator.kandji import Fleet, FleetSpec, KandjiSimulator, make_kandji_app

TOKEN = "latency-token-71c2"  # noqa: S105 - the simulator's; guards nothing real
SOURCE = "tenant"
TENANT_PER_HOUR = 10_000

CONFIG = """\
sources:
  - name: {source}
    kind: kandji
    url: {url}
    token: ${{LAT_TOKEN}}
    interval: {interval}s
    budget: {{requests_per_hour: {budget}, burst_per_second: {burst}, concurrency: 8}}
    planner: {{per_device_share: {share}}}
rules:
  builtin: true
receivers:
  - name: quiet
    console: true
route:
  receiver: quiet
store:
  path: state/monitor.db
web:
  enabled: false
log:
  level: warning
"""


class QuietSender:
    """A sender that counts messages and prints nothing (the bench prints JSON)."""

    def __init__(self) -> None:
        self.messages = 0

    async def deliver(self, receiver: ReceiverConfig, message: Outgoing) -> None:
        """Count one message."""
        self.messages += 1


@dataclass(frozen=True)
class Scenario:
    """One latency run: the fleet, the budget, the rival, the injected failures."""

    devices: int = 10_000
    items: int = 60
    budget: int = 5000
    rival: float = 0.0
    interval: float = 900.0
    share: float = 0.05
    burst: float = 50.0
    hours: float = 3.0
    failures: int = 150
    seed: int = 1


def inject(
    fleet: Fleet, scenario: Scenario, start: float, end: float
) -> list[tuple[float, str, str]]:
    """Schedule ``scenario.failures`` failures at random moments in [start, end) (seconds
    after the fleet clock's now): (moment, device id, item id), each on an item the
    device carries that is healthy now."""
    rng = random.Random(f"latency:{scenario.seed}")
    now = fleet.clock.now()
    chosen: list[tuple[float, str, str]] = []
    taken: set[tuple[str, str]] = set()
    while len(chosen) < scenario.failures:
        item = fleet.items[rng.randrange(len(fleet.items))]
        scope = fleet.item_scope(item)
        if not scope:
            continue
        device_id = fleet.device_id(scope[rng.randrange(len(scope))])
        state = next((s for s in fleet.device_items(fleet.require(device_id))
                      if s.item.id == item.id), None)
        healthy = state is not None and state.status in ("PASS", "success")
        if not healthy or (device_id, item.id) in taken:
            continue
        at = rng.uniform(start, end)
        bad = "failed" if item.is_profile else "ERROR"
        fleet.schedule_item_status(device_id, item.id, bad, now + timedelta(seconds=at))
        taken.add((device_id, item.id))
        chosen.append((at, device_id, item.id))
    return chosen


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile of ``values``."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def run_latency(scenario: Scenario) -> dict[str, Any]:
    """Run one scenario; its figures."""
    clock = FakeClock(autojump=True)
    fleet = Fleet(FleetSpec(devices=scenario.devices, library_items=scenario.items,
                            seed=scenario.seed), clock=clock)
    sim = KandjiSimulator(fleet, token=TOKEN, seed=scenario.seed, per_second=50,
                          per_hour=TENANT_PER_HOUR, rival_per_hour=scenario.rival,
                          max_records=10_000)
    runner = web.AppRunner(make_kandji_app(sim), access_log=None, handler_cancellation=True,
                           shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    sender = QuietSender()
    with tempfile.TemporaryDirectory(prefix="latency-") as tmp:
        workdir = Path(tmp)
        (workdir / "config.yaml").write_text(CONFIG.format(
            source=SOURCE, url=url, interval=scenario.interval, budget=scenario.budget,
            burst=scenario.burst, share=scenario.share))
        config = load_config(workdir / "config.yaml", env={"LAT_TOKEN": TOKEN})
        try:
            async with App(config, clock=clock, sender=sender, web_enabled=False) as app:
                result = await _drive(app, sim, clock, scenario)
        finally:
            await runner.cleanup()
    return result


async def _drive(app: App, sim: KandjiSimulator, clock: FakeClock,
                 scenario: Scenario) -> dict[str, Any]:
    t0 = clock.monotonic()
    horizon = scenario.hours * 3600
    injected = inject(sim.fleet, scenario, scenario.interval, horizon - scenario.interval)
    pending = {(d, i): at for at, d, i in injected}
    latencies: list[float] = []
    sweeps = requests = 0
    k = 0
    while clock.monotonic() - t0 < horizon:
        due = t0 + k * scenario.interval
        if clock.monotonic() < due:
            clock.advance(due - clock.monotonic())
        k += 1
        before = sim.limiter.answered
        await app.sweep_source(SOURCE)
        sweeps += 1
        requests += sim.limiter.answered - before
        done = clock.monotonic() - t0
        alerts = await app.status.stored_alerts(SOURCE)
        for alert in alerts.values():
            key = (alert.finding.device_id, alert.finding.subject_id)
            if key in pending and alert.state is AlertState.FIRING:
                latencies.append(done - pending.pop(key))
    elapsed_h = (clock.monotonic() - t0) / 3600
    # What the monitor may spend an hour: its own budget, or what the tenant leaves it
    # (the limit less the rival's spending and the 5% tenant reserve), the smaller.
    left = min(scenario.budget * 1.0, TENANT_PER_HOUR * 0.95 - scenario.rival)
    out: dict[str, Any] = {
        "devices": scenario.devices,
        "items": scenario.items,
        "budget_per_hour": scenario.budget,
        "rival_per_hour": scenario.rival,
        "interval_s": scenario.interval,
        "per_device_share": scenario.share,
        "simulated_hours": round(elapsed_h, 2),
        "sweeps": sweeps,
        "injected": len(injected),
        "detected": len(latencies),
        "undetected": len(pending),
        "detection_latency_median_s": round(statistics.median(latencies), 1) if latencies else None,
        "detection_latency_p95_s": round(percentile(latencies, 0.95), 1) if latencies else None,
        "detection_latency_max_s": round(max(latencies), 1) if latencies else None,
        "requests_per_hour": round(requests / elapsed_h, 1),
        "answers_429": sim.limiter.rejected,
        "budget_left_to_monitor_per_hour": round(left, 1),
        "share_of_that_used": round(requests / elapsed_h / left, 3),
    }
    return out


__all__ = ["Scenario", "run_latency"]
