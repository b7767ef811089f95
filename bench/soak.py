"""Soak: the daemon against a simulated 10,000-device tenant with injected faults, for
hours of simulated time, checked against the simulator's truth.

Everything runs in this process on one fake clock: the simulated tenant (served over
loopback HTTP), the :class:`~monitor.app.App` (sweeper, rule engine, alert state
machine, SQLite store, notification pipeline) and a receiver. The harness drives time:
each step is one sweep (retries and budget waits jump the clock instead of taking wall
time), one pass of the notification pipeline, then ``--interval`` of simulated time in
which the fleet churns (items fail and recover, as :meth:`Fleet.advance` draws them).

A share ``--fault-rate`` of all API requests meets a fault, spread evenly over the
kinds in ``--faults`` (429 with and without Retry-After, 5xx, resets before and during
the body, timeouts, truncated or garbled JSON, HTML pages, fields missing, null objects,
an HTML 404 for a device that exists, device lists that shift while read).

The receiver's body template is machine-readable: ``N device item`` for a newly
announced failure, ``F`` for one still firing, ``R`` for a resolved one. Checked
against the simulator:

- ``false_resolutions``: an item announced resolved while the simulator still had it
  failing (a resolution from missing data);
- ``duplicates``: an item announced new again without a resolution in between;
- ``false_gone``: devices called gone (``monitor.device.gone`` firing) that the tenant
  still has;
- ``unannounced_max`` / ``unannounced_last_faulty_sweep``: failing items of live
  devices not (yet) announced after a sweep, at worst and after the last sweep under
  faults: how far behind the faults keep the daemon (held data is late, not lost);
- ``lost``: after the faults stop and two clean sweeps, every failing item of a live
  device must have been announced and every announced item since recovered must have
  been announced resolved; each one that was not is lost;
- RSS (``/proc/self/statm``) after the warm-up sweeps and at the end: it must not grow
  by more than 10%.

Usage::

    .venv/bin/python bench/soak.py --devices 10000 --sweeps 48 --interval 6h

prints one JSON report; exits 1 when an invariant broke.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from aiohttp import web

from monitor.app import App
from monitor.clock import FakeClock
from monitor.config import ReceiverConfig, load_config, parse_duration
from monitor.log import configure_logging
from monitor.models import AlertState
from monitor.notify.outgoing import Outgoing
from monitor.simulator.kandji import (
    ITEM_STATUSES,
    Fleet,
    FleetSpec,
    KandjiSimulator,
    make_kandji_app,
)

TOKEN = "soak-token-5e8d1c"  # noqa: S105 - the simulator's; guards nothing real
SOURCE = "tenant"
FAILING = frozenset({"ERROR", "failed"})
Pair = tuple[str, str]  # (device id, library item id)

DEFAULT_FAULTS = (
    "429,429-bare,500,502,503,reset,reset-body,timeout,malformed,garbled,html-200,html,"
    "field-missing=status,field-missing=item_id,null-object,shift"
)

RULES = """\
version: 1
rules:
  - id: soak.item.failed
    source: kandji
    subject: library_item
    match:
      status: [ERROR, failed]
    severity: warning
    summary: "{{ subject.name }} is {{ subject.status }} on {{ device.name }}"
"""

CONFIG = """\
sources:
  - name: {source}
    kind: kandji
    url: {url}
    token: ${{SOAK_TOKEN}}
    strategy: {strategy}
    interval: {interval}
    timeout: 500ms
    budget: {{requests_per_hour: {budget}, burst_per_second: 50, concurrency: 8}}
    retry: {{max_attempts: 4, backoff_base: 1s, backoff_max: 30s, max_retry_after: 60s}}
rules:
  builtin: false
  files: [rules.yaml]
receivers:
  - name: truth
    console: true
    send_resolved: true
    body_template: |-
      {{% for a in firing %}}{{{{ 'N' if a.new else 'F' }}}}
      {{{{- ' ' ~ a.device_id ~ ' ' ~ a.subject_id }}}}
      {{% endfor %}}{{% for a in resolved %}}R {{{{ a.device_id }}}} {{{{ a.subject_id }}}}
      {{% endfor %}}
route:
  receiver: truth
  group_by: [rule_id, source]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 10000h
store:
  path: state/monitor.db
web:
  enabled: false
log:
  level: warning
"""


@dataclass
class SoakReport:
    """What one soak run did and found (see the module docstring)."""

    devices: int = 0
    strategy: str = ""
    simulated_hours: float = 0.0
    sweeps_completed: int = 0
    sweeps_ok: int = 0
    sweeps_failed: int = 0
    requests: int = 0
    faults_seen: int = 0
    faults_by_kind: dict[str, int] = field(default_factory=dict)
    fleet_changes: int = 0
    messages: int = 0
    announced_new: int = 0
    announced_resolved: int = 0
    false_resolutions: int = 0
    duplicates: int = 0
    false_gone: int = 0
    unannounced_max: int = 0
    unannounced_last_faulty_sweep: int = 0
    failing_at_start: int = 0
    failing_at_end: int = 0
    alerts_at_warmup: int = 0
    alerts_at_end: int = 0
    lost: int = 0
    lost_detail: list[str] = field(default_factory=list)
    dead_letters: int = 0
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0
    rss_growth_pct: float = 0.0
    wall_seconds: float = 0.0
    seconds_per_sweep: float = 0.0

    def problems(self) -> list[str]:
        """Every broken invariant, in words (empty when all hold)."""
        out = []
        if self.lost:
            out.append(f"{self.lost} alert(s) lost: {self.lost_detail[:10]}")
        if self.false_resolutions:
            out.append(f"{self.false_resolutions} resolution(s) of items still failing")
        if self.duplicates:
            out.append(f"{self.duplicates} duplicate announcement(s)")
        if self.false_gone:
            out.append(f"{self.false_gone} live device(s) called gone")
        if self.dead_letters:
            out.append(f"{self.dead_letters} message(s) never delivered")
        if self.rss_growth_pct > 10.0:
            out.append(f"RSS grew {self.rss_growth_pct:.1f}% (more than 10%)")
        return out


class TruthReceiver:
    """A :class:`~monitor.notify.sender.Sender` that reads the machine-readable bodies."""

    def __init__(self) -> None:
        self.told: dict[Pair, str] = {}  # last thing said about each pair: F or R
        self.pending: list[tuple[str, Pair]] = []  # lines since the harness last looked
        self.messages = 0

    async def deliver(self, receiver: ReceiverConfig, message: Outgoing) -> None:
        """Record every line of the message."""
        self.messages += 1
        for line in message.body.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] in ("N", "F", "R"):
                self.pending.append((parts[0], (parts[1], parts[2])))


_FAILING_CODES = tuple(code for code, name in enumerate(ITEM_STATUSES) if name in FAILING)


def failing_pairs(fleet: Fleet) -> set[Pair]:
    """The (device, item) pairs the tenant reports failing now (read from the fleet's
    status tables, which is what its API serves, without building every row)."""
    out: set[Pair] = set()
    tables = fleet.status_tables
    for item in fleet.items:
        table = tables[item.index]
        scope: set[int] | None = None
        for code in _FAILING_CODES:
            position = table.find(code)
            while position >= 0:
                if scope is None:
                    scope = set(fleet.item_scope(item))
                if position in scope:
                    out.add((fleet.device_id(position), item.id))
                position = table.find(code, position + 1)
    return out


def rss_mb() -> float:
    """The resident set size of this process, in MiB (Linux), after a full collection
    and, where glibc allows, handing freed heap pages back (so fragmentation left by a
    burst of work is not counted as growth)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


FAILING_SHARE = 0.002
RECOVER_PER_HOUR = 0.25


def fleet_spec(devices: int, seed: int) -> FleetSpec:
    """A fleet whose items fail and recover at rates that keep the failing share flat
    (0.2% of device-item pairs, about 200 new failures an hour on 10,000 devices); no
    silent devices (nothing is inhibited).

    Resolved alerts are kept for a week (``alerts.RESOLVED_RETENTION``), so the
    daemon's state grows for a week of simulated time and then holds; the default
    warm-up (30 sweeps 6 hours apart) ends past that week, so the RSS compared is that
    of a daemon whose state no longer grows."""
    return FleetSpec(
        devices=devices,
        seed=seed,
        item_failure_rate=FAILING_SHARE,
        fail_per_hour=RECOVER_PER_HOUR * FAILING_SHARE / (1 - FAILING_SHARE),
        recover_per_hour=RECOVER_PER_HOUR,
        silent_rate=0.0,
        never_checked_in_rate=0.0,
        silence_per_hour=0.0,
        return_per_hour=0.0,
    )


@dataclass
class Soak:
    """The pieces of one soak run."""

    app: App
    sim: KandjiSimulator
    clock: FakeClock
    receiver: TruthReceiver
    report: SoakReport
    removed: set[str] = field(default_factory=set)
    unannounced: int = 0

    async def step(self, *, check: bool) -> None:
        """One sweep, one pass of the pipeline; the receiver's news checked."""
        sim, report = self.sim, self.report
        before = {sim.fleet.device_id(i) for i in sim.fleet.device_indices()}
        sim.requests.clear()
        result = await self.app.sweep_source(SOURCE)
        report.sweeps_completed += 1
        report.sweeps_ok += result.ok
        report.sweeps_failed += not result.ok
        report.requests += sim.requests.total
        for record in sim.requests.records:
            if record.fault is not None:
                report.faults_seen += 1
                report.faults_by_kind[record.fault] = report.faults_by_kind.get(
                    record.fault, 0
                ) + 1
        live = {sim.fleet.device_id(i) for i in sim.fleet.device_indices()}
        self.removed |= before - live
        await self.app.flush_notifications(ignore_wait=True)
        await self.app.deliver_notifications()
        truth = failing_pairs(sim.fleet)
        for kind, pair in self.receiver.pending:
            if kind == "N":
                report.announced_new += 1
                if self.receiver.told.get(pair) == "F":
                    report.duplicates += 1
                self.receiver.told[pair] = "F"
            elif kind == "F":
                self.receiver.told[pair] = "F"
            else:
                report.announced_resolved += 1
                if check and pair in truth and pair[0] in live:
                    report.false_resolutions += 1
                self.receiver.told[pair] = "R"
        self.receiver.pending.clear()
        told = self.receiver.told
        unannounced = sum(1 for p in truth if p[0] in live and told.get(p) != "F")
        report.unannounced_max = max(report.unannounced_max, unannounced)
        self.unannounced = unannounced
        alerts = await self.app.status.stored_alerts(SOURCE)
        gone = {
            a.finding.device_id
            for a in alerts.values()
            if a.rule_id == "monitor.device.gone" and a.state is AlertState.FIRING
        }
        if check:
            report.false_gone += len(gone & live)

    def settle(self) -> None:
        """Compare what the receiver was told with the tenant (after clean sweeps)."""
        report = self.report
        fleet = self.sim.fleet
        live = {fleet.device_id(i) for i in fleet.device_indices()}
        truth = failing_pairs(fleet)
        report.failing_at_end = len(truth)
        missing = [f"firing {d}/{i} not announced" for d, i in sorted(truth)
                   if self.receiver.told.get((d, i)) != "F"]
        missing += [f"resolved {d}/{i} not announced"
                    for (d, i), said in sorted(self.receiver.told.items())
                    if said == "F" and (d, i) not in truth and d in live]
        report.lost = len(missing)
        report.lost_detail = missing[:20]


CHURN_STEP = 900.0
"""Seconds of fleet churn drawn at a time: the fleet's rates are per hour, and one draw
over hours would recover every failing item it had just failed."""


def churn(fleet: Fleet, seconds: float) -> int:
    """Advance the fleet's churn by ``seconds`` in quarter-hour draws; changes made."""
    changes = 0
    left = seconds
    while left > 0:
        step = min(CHURN_STEP, left)
        changes += len(fleet.advance(step))
        left -= step
    return changes


def add_faults(sim: KandjiSimulator, kinds: list[str], rate: float) -> None:
    """Spread ``rate`` of all requests evenly over ``kinds`` (first match wins, so each
    later rule sees only what the earlier ones let through)."""
    share = rate / len(kinds)
    left = 1.0
    for kind in kinds:
        path = "^/api/v1/devices$" if kind == "shift" else "."
        delay = 3.0 if kind == "timeout" else 0.0
        sim.add_fault(path, kind, probability=min(1.0, share / left), delay=delay,
                      retry_after=1)
        left -= share


async def run_soak(args: argparse.Namespace, workdir: Path) -> SoakReport:
    """One soak run in ``workdir``; its report."""
    t0 = time.monotonic()
    report = SoakReport(devices=args.devices, strategy=args.strategy)
    clock = FakeClock(autojump=True)
    fleet = Fleet(fleet_spec(args.devices, args.seed), clock=clock)
    sim = KandjiSimulator(fleet, token=TOKEN, seed=args.seed, per_second=None, per_hour=None,
                          max_records=200_000)
    runner = web.AppRunner(make_kandji_app(sim), access_log=None, handler_cancellation=True,
                           shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    interval = parse_duration(args.interval).total_seconds()
    (workdir / "rules.yaml").write_text(RULES)
    (workdir / "config.yaml").write_text(CONFIG.format(
        source=SOURCE, url=url, strategy=args.strategy, interval=args.interval,
        budget=args.budget,
    ))
    config = load_config(workdir / "config.yaml", env={"SOAK_TOKEN": TOKEN})
    receiver = TruthReceiver()
    started_at = clock.monotonic()
    try:
        async with App(config, clock=clock, sender=receiver, web_enabled=False) as app:
            soak = Soak(app, sim, clock, receiver, report)
            kinds = [k for k in args.faults.split(",") if k]
            if kinds and args.fault_rate > 0:
                add_faults(sim, kinds, args.fault_rate)
            report.failing_at_start = len(failing_pairs(fleet))
            for n in range(args.sweeps):
                await soak.step(check=True)
                if n + 1 == args.warmup:
                    report.rss_start_mb = rss_mb()
                    report.alerts_at_warmup = len(await app.status.stored_alerts(SOURCE))
                clock.advance(interval)
                report.fleet_changes += churn(fleet, interval)
            report.unannounced_last_faulty_sweep = soak.unannounced
            # The faults stop; two clean sweeps; what was said must match the tenant.
            sim.faults.clear()
            for _ in range(2):
                await soak.step(check=True)
                clock.advance(interval)
            soak.settle()
            report.rss_end_mb = rss_mb()
            report.alerts_at_end = len(await app.status.stored_alerts(SOURCE))
            counts = await app.status.outbox_counts()
            report.dead_letters = sum(n for state, n in counts.items() if str(state) == "dead")
        report.messages = receiver.messages
    finally:
        await runner.cleanup()
    report.simulated_hours = round((clock.monotonic() - started_at) / 3600, 2)
    if report.rss_start_mb:
        report.rss_growth_pct = round(
            100 * (report.rss_end_mb - report.rss_start_mb) / report.rss_start_mb, 2
        )
    report.rss_start_mb = round(report.rss_start_mb, 1)
    report.rss_end_mb = round(report.rss_end_mb, 1)
    report.wall_seconds = round(time.monotonic() - t0, 1)
    report.seconds_per_sweep = round(report.wall_seconds / max(1, report.sweeps_completed), 2)
    report.faults_by_kind = dict(sorted(Counter(report.faults_by_kind).items()))
    return report


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print its report as JSON; exit 1 if an invariant broke."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--sweeps", type=int, default=48, help="sweeps under faults")
    parser.add_argument("--interval", default="6h", help="simulated time between sweeps")
    parser.add_argument("--fault-rate", type=float, default=0.05,
                        help="share of API requests that meet a fault")
    parser.add_argument("--faults", default=DEFAULT_FAULTS,
                        help="comma-separated fault kinds (simulate --fault names)")
    parser.add_argument("--strategy", choices=["planned", "per_device"], default="planned")
    parser.add_argument("--budget", type=int, default=10_000, help="requests per hour")
    parser.add_argument("--warmup", type=int, default=30,
                        help="sweeps before the starting RSS is taken (past a week of "
                        "simulated time, when resolved alerts start to expire)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the config and database in this folder")
    args = parser.parse_args(argv)
    if args.sweeps < args.warmup:
        parser.error("--sweeps must be at least --warmup")
    configure_logging("warning", "console", stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        report = asyncio.run(run_soak(args, workdir))
    out = asdict(report)
    out["problems"] = report.problems()
    print(json.dumps(out, indent=2))
    return 1 if report.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
