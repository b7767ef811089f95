"""Detection latency of library-item failures, in simulated time (part of bench/sweep.py).

Everything runs in one process on one fake clock that jumps over every wait: the
simulated tenant (served over loopback, with Kong's hourly and per-second limits and,
for the rival scenario, another integration spending ``rival`` requests an hour of the
tenant's 10,000), and the :class:`~monitor.app.App` as the daemon builds it (planned
sweeper, rule engine, alert state machine, SQLite store with its outbox). The daemon's
own :class:`~monitor.daemon.SourceCoordinator` schedules the sweeps (its fixed cadence
with jitter, at the step the source's budget affords, at most ``interval``).

**Cold start, then steady state.** A daemon starting on a tenant reads it cold: every
library item, and a backlog of per-device reads. The bench lets it finish its first
full pass of the library items (every assigned item read at least once, as the tenant
saw it) and reports that apart (``cold_start``: seconds and requests); failures are
injected only after it, over ``hours`` of steady running, so the detection figures are
what a running daemon gives.

Failures are injected at uniformly random moments: a library item a device carries goes
``ERROR`` (``failed`` for a profile) at that moment. An injected failure's latency is
the time from that moment to the end of the sweep whose commit put its alert (firing)
in the store, together with its outbox message. Request latency on the wire is not
simulated; the per-second limit is. ``share_of_that_used`` is the steady state's
spending per hour over what the monitor may spend (its budget, or what the tenant
leaves it after the rival and the 5% reserve).
"""

from __future__ import annotations

import random
import statistics
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from monitor.app import App
from monitor.clock import FakeClock
from monitor.config import ReceiverConfig, load_config
from monitor.daemon import SourceCoordinator, Stopper
from monitor.models import AlertState, SweepStats
from monitor.notify.outgoing import Outgoing
from monitor.simulator.kandji import Fleet, FleetSpec, KandjiSimulator, make_kandji_app
from monitor.sources.kandji.api import LIBRARY_ITEM_STATUS

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


@dataclass
class _Run:
    """What the harness tracks while the coordinator sweeps."""

    assigned: set[str]
    seen: set[str] = field(default_factory=set)
    warm_at: float | None = None
    warm_requests: int = 0
    warm_sweeps: int = 0
    end: float = 0.0
    stopped_at: float = 0.0
    pending: dict[tuple[str, str], float] = field(default_factory=dict)
    injected: int = 0
    latencies: list[float] = field(default_factory=list)
    sweeps: int = 0
    cadence: float | None = None
    cadences: list[float] = field(default_factory=list)


async def _drive(app: App, sim: KandjiSimulator, clock: FakeClock,
                 scenario: Scenario) -> dict[str, Any]:
    t0 = clock.monotonic()
    fleet = sim.fleet
    run = _Run({fleet.items[j].id for bp in fleet.blueprints for j in bp.item_indices})
    stopper = Stopper(clock)
    answered0 = sim.limiter.answered

    async def sweep(name: str) -> SweepStats:
        stats = await app.sweep_source(name)
        run.sweeps += 1
        now = clock.monotonic()
        views = [v for v in await app.status.sources() if v.name == name]
        run.cadence = views[0].cadence_s if views else None
        if run.warm_at is None:
            _warm_up(run, sim, scenario, now - t0, sim.limiter.answered - answered0)
            return stats
        if run.cadence is not None:
            run.cadences.append(run.cadence)
        alerts = await app.status.stored_alerts(SOURCE)
        for alert in alerts.values():
            key = (alert.finding.device_id, alert.finding.subject_id)
            if key in run.pending and alert.state is AlertState.FIRING:
                run.latencies.append(now - t0 - run.pending.pop(key))
        if now - t0 >= run.end:
            run.stopped_at = now - t0
            stopper.set()
        return stats

    coordinator = SourceCoordinator(
        SOURCE, timedelta(seconds=scenario.interval), sweep, clock, stopper,
        cadence=lambda _: run.cadence or scenario.interval,
    )
    await coordinator.run()
    return _figures(run, sim, scenario, answered0)


def _warm_up(run: _Run, sim: KandjiSimulator, scenario: Scenario, at: float,
             spent: int) -> None:
    """After a sweep of the cold start: once every assigned item was read, start the
    steady state (inject its failures, from now on)."""
    run.seen.update(r.path.split("/")[5] for r in sim.requests.matching(LIBRARY_ITEM_STATUS))
    sim.requests.clear()
    run.warm_sweeps += 1
    if not run.assigned <= run.seen:
        return
    run.warm_at, run.warm_requests = at, spent
    horizon = scenario.hours * 3600
    run.end = at + horizon
    injected = inject(sim.fleet, scenario, 0.0, horizon - scenario.interval)
    run.injected = len(injected)
    run.pending = {(d, i): at + offset for offset, d, i in injected}


def _figures(run: _Run, sim: KandjiSimulator, scenario: Scenario,
             answered0: int) -> dict[str, Any]:
    warm = run.warm_at or 0.0
    steady_h = max(1e-9, (run.stopped_at - warm) / 3600)
    steady = sim.limiter.answered - answered0 - run.warm_requests
    # What the monitor may spend an hour: its own budget, or what the tenant leaves it
    # (the limit less the rival's spending and the 5% tenant reserve), the smaller.
    left = min(scenario.budget * 1.0, TENANT_PER_HOUR * 0.95 - scenario.rival)
    lat = run.latencies
    return {
        "devices": scenario.devices,
        "items": scenario.items,
        "budget_per_hour": scenario.budget,
        "rival_per_hour": scenario.rival,
        "interval_s": scenario.interval,
        "per_device_share": scenario.share,
        "cold_start": {
            "seconds": round(warm, 1),
            "requests": run.warm_requests,
            "sweeps": run.warm_sweeps,
            "items_read": len(run.seen & run.assigned),
            "items_assigned": len(run.assigned),
        },
        "steady_hours": round(steady_h, 2),
        "sweeps": run.sweeps - run.warm_sweeps,
        "cadence_median_s": round(statistics.median(run.cadences), 1) if run.cadences else None,
        "injected": run.injected,
        "detected": len(lat),
        "undetected": len(run.pending),
        "detection_latency_median_s": round(statistics.median(lat), 1) if lat else None,
        "detection_latency_p95_s": round(percentile(lat, 0.95), 1) if lat else None,
        "detection_latency_max_s": round(max(lat), 1) if lat else None,
        "requests_per_hour": round(steady / steady_h, 1),
        "answers_429": sim.limiter.rejected,
        "budget_left_to_monitor_per_hour": round(left, 1),
        "share_of_that_used": round(steady / steady_h / left, 3),
    }


__all__ = ["Scenario", "run_latency"]
