"""Failover of several daemons on one store: the owner of tenants killed, its tenants
taken over, every notification delivered, none twice but for the kills.

Four simulated Kandji tenants run in this process and evolve (items fail and recover).
``--instances`` daemons run as real ``python -m monitor.cli run`` processes on one store
(a fresh PostgreSQL database, or one SQLite file), each configured with all four tenants;
the leases spread the tenants over them. They deliver through apprise's json:// to a
webhook here that records every message. Each round the fleets change, then the daemon
holding the most tenants is killed with SIGKILL; the round measures how long until every
one of its tenants is leased by a live instance (the takeover), restarts the killed
daemon, and waits until what the receiver was told agrees with the fleets. A
notification still missing after ``settle_timeout`` seconds is lost.

Checked: every due notification arrives; a message arrives twice at most once per kill;
no two instances sweep one tenant at once (from
the daemons' sweep log lines); takeovers within 2 x lease TTL.

    .venv/bin/python bench/failover.py --backend postgresql --instances 3 --kills 3
    .venv/bin/python bench/failover.py --backend sqlite --instances 2 --kills 3

prints one JSON object: {instances, kills, due, delivered, lost, duplicates,
takeover_s_max, takeover_s_median, ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import asyncpg  # type: ignore[import-untyped]
from aiohttp import web

if __package__ in (None, ""):  # run as a script: the checkout's packages first
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.crash import RULES, CrashConfig, Daemon, fleet_spec
from monitor.clock import SystemClock
from monitor.log import configure_logging
from monitor.simulator.kandji import Fleet, KandjiSimulator, make_kandji_app
from monitor.store import SqlStore, open_store

TOKEN = "failover-test-token-5b1d"  # noqa: S105 - the simulator's; guards nothing real
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
FAILING = frozenset({"ERROR", "failed"})
Backend = Literal["postgresql", "sqlite"]
Key = tuple[str, str, str]  # (tenant, device id, library item id)

SOURCE = """\
  - name: {name}
    kind: kandji
    url: {url}
    token: {token}
    interval: 1s
    strategy: per_device
    timeout: 5s
    budget: {{requests_per_hour: 1000000, burst_per_second: 1000, concurrency: 4}}
    retry: {{max_attempts: 2, backoff_base: 50ms, backoff_max: 100ms}}
"""

CONFIG = """\
sources:
{sources}
rules:
  builtin: false
  files: [{rules}]
receivers:
  - name: hook
    urls: ["{hook}"]
    send_resolved: true
    max_devices: 1000
    body_template: |-
      {{% for a in firing %}}F {{{{ a.source }}}} {{{{ a.device_id }}}} {{{{ a.subject_id }}}}
      {{% endfor %}}{{% for a in resolved %}}R {{{{ a.source }}}} {{{{ a.device_id }}}} \
      {{{{- ' ' ~ a.subject_id }}}}
      {{% endfor %}}@ {{{{ now }}}}
route:
  receiver: hook
  group_by: [source, device_id]
  group_wait: 300ms
  group_interval: 1s
  repeat_interval: 24h
notify:
  first_start: announce
  outbox:
    max_attempts: 1000
    backoff_base: 200ms
    backoff_max: 1s
    poll_interval: 200ms
    send_timeout: 5s
store:
  url: {store}
  lease_ttl: {ttl}s
  instance: {instance}
web:
  enabled: false
log:
  level: info
  format: json
shutdown_grace: 3s
"""


@dataclass(frozen=True)
class FailoverConfig:
    """The knobs of one failover run."""

    backend: Backend = "postgresql"
    instances: int = 3
    tenants: int = 4
    kills: int = 3
    devices: int = 12
    seed: int = 1
    lease_ttl: float = 4.0
    # "kill": SIGKILL, then restart. "pause": SIGSTOP past the lease, SIGCONT later; the
    # paused instance must then write and send nothing under its old epochs.
    mode: Literal["kill", "pause"] = "kill"
    settle_timeout: float = 60.0
    start_timeout: float = 90.0


@dataclass
class FailoverReport:
    """What one failover run did and found (see the module docstring)."""

    backend: str = ""
    instances: int = 0
    tenants: int = 0
    kills: int = 0
    lease_ttl_s: float = 0.0
    due: int = 0
    delivered: int = 0
    unique: int = 0
    duplicates: int = 0
    lost: int = 0
    lost_detail: list[str] = field(default_factory=list)
    takeover_s: list[float] = field(default_factory=list)
    takeover_s_max: float = 0.0
    takeover_s_median: float = 0.0
    overlapping_sweeps: int = 0
    stale_writes: int = 0
    seconds: float = 0.0

    def problems(self) -> list[str]:
        """Every broken invariant, in words (empty when all hold)."""
        out = []
        if self.lost:
            out.append(f"{self.lost} notification(s) lost: {self.lost_detail[:10]}")
        if self.duplicates > self.kills:
            out.append(f"{self.duplicates} duplicate(s) for {self.kills} kill(s)")
        if self.stale_writes:
            out.append(f"{self.stale_writes} sweep(s) written under a lease already taken over")
        if self.overlapping_sweeps:
            out.append(f"{self.overlapping_sweeps} sweep(s) of a tenant by two instances at once")
        if self.takeover_s and self.takeover_s_max > 2 * self.lease_ttl_s:
            out.append(f"a takeover took {self.takeover_s_max:.1f}s (> 2 x TTL)")
        if len(self.takeover_s) < self.kills:
            out.append("a killed instance's tenants were not all taken over")
        return out


class Instance(Daemon):
    """A daemon process that can also be paused (SIGSTOP) and resumed (SIGCONT)."""

    def pause(self) -> None:
        """Freeze the process: it keeps its connections and its memory, and does nothing."""
        if self.alive and self.proc is not None:
            os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused process go on where it stopped."""
        if self.alive and self.proc is not None:
            os.kill(self.proc.pid, signal.SIGCONT)

    async def logged(self, event: str, timeout: float) -> None:
        """Wait until the current run has logged ``event``."""
        deadline = time.monotonic() + timeout
        marker = f"=== run {self.runs} "
        while time.monotonic() < deadline:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
            if f'"event": "{event}"' in text.rpartition(marker)[2]:
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"{self.log_file.name}: no {event} within {timeout:g}s")


class Receiver:
    """The webhook: records every json:// payload."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        """Record the message and answer 200."""
        try:
            payload: dict[str, Any] = await request.json()
        except ConnectionResetError:
            return web.Response(status=400)
        self.received.append((str(payload.get("title", "")), str(payload.get("message", ""))))
        self.arrived.set()
        return web.Response(status=200)

    def view(self) -> dict[Key, str]:
        """What the receiver was told last of each (tenant, device, item): F or R."""
        told: dict[Key, str] = {}
        for _, body in self.received:
            for line in body.splitlines():
                parts = line.split()
                if len(parts) == 4 and parts[0] in ("F", "R"):
                    told[(parts[1], parts[2], parts[3])] = parts[0]
        return told


def failing(fleets: dict[str, Fleet]) -> set[Key]:
    """What must be firing: every failing (tenant, device, item) of every fleet."""
    out: set[Key] = set()
    for tenant, fleet in fleets.items():
        for i in fleet.device_indices():
            device_id = fleet.device_id(i)
            for state in fleet.device_items(i):
                if state.status in FAILING:
                    out.add((tenant, device_id, state.item.id))
    return out


def disagreements(truth: set[Key], told: dict[Key, str]) -> list[str]:
    """Where the receiver's view and the truth differ (empty when they agree)."""
    out = [f"firing {'/'.join(k)} not announced" for k in sorted(truth) if told.get(k) != "F"]
    out += [f"resolved {'/'.join(k)} not announced"
            for k, state in sorted(told.items()) if k not in truth and state != "R"]
    return out


async def agreement(receiver: Receiver, truth: set[Key], timeout: float) -> None:
    """Wait until the receiver's view agrees with ``truth``, or ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while disagreements(truth, receiver.view()) and time.monotonic() < deadline:
        receiver.arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(receiver.arrived.wait(), min(1.0, deadline - time.monotonic()))


async def _pg(sql: str) -> None:
    conn = await asyncpg.connect(f"{PG_SERVER}/postgres", timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def holders(store: SqlStore) -> dict[str, str]:
    """Which instance holds each tenant's lease now (live leases only)."""
    now = SystemClock().now()
    return {lease.source: lease.owner for lease in await store.leases() if lease.expires_at > now}


async def run_failover(workdir: Path, cfg: FailoverConfig) -> FailoverReport:
    """Run the failover benchmark in ``workdir``; its report."""
    t0 = time.monotonic()
    report = FailoverReport(backend=cfg.backend, instances=cfg.instances, tenants=cfg.tenants,
                            lease_ttl_s=cfg.lease_ttl)
    clock = SystemClock()
    names = [f"tenant{n}" for n in range(cfg.tenants)]
    fleets = {name: Fleet(fleet_spec_for(cfg, n), clock=clock) for n, name in enumerate(names)}
    runners: list[web.AppRunner] = []
    urls = {}
    for name, fleet in fleets.items():
        sim = KandjiSimulator(fleet, token=TOKEN, seed=cfg.seed, latency_ms=2.0, jitter_ms=2.0,
                              per_second=None, per_hour=None)
        runner = web.AppRunner(make_kandji_app(sim), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        urls[name] = f"http://127.0.0.1:{runner.addresses[0][1]}"
    receiver = Receiver()
    hook_app = web.Application()
    hook_app.router.add_post("/hook", receiver.handle)
    hook_runner = web.AppRunner(hook_app, access_log=None, shutdown_timeout=1.0)
    await hook_runner.setup()
    await web.TCPSite(hook_runner, "127.0.0.1", 0).start()
    runners.append(hook_runner)
    hook = f"json://127.0.0.1:{hook_runner.addresses[0][1]}/hook"

    database = ""
    if cfg.backend == "postgresql":
        database = f"cm_failover_{secrets.token_hex(5)}"
        await _pg(f'CREATE DATABASE "{database}"')
        store_url = f"{PG_SERVER}/{database}"
    else:
        store_url = f"sqlite:///{workdir / 'state' / 'monitor.db'}"
    (workdir / "rules.yaml").write_text(RULES)
    sources = "".join(SOURCE.format(name=n, url=urls[n], token=TOKEN) for n in names)
    daemons: dict[str, Instance] = {}
    for i in range(cfg.instances):
        instance = f"i{i}"
        config = workdir / f"{instance}.yaml"
        config.write_text(CONFIG.format(
            sources=sources.rstrip("\n"), rules=workdir / "rules.yaml", hook=hook,
            store=store_url, ttl=cfg.lease_ttl, instance=instance,
        ))
        daemons[instance] = Instance(config, workdir / f"{instance}.log")
    # The store is created (and migrated) once before the daemons race for it.
    watcher = open_store(store_url)
    await watcher.open()
    previous: set[Key] = set()
    try:
        for d in daemons.values():
            await d.start(cfg.start_timeout)
        for _ in range(cfg.kills):
            # Every tenant held, the receiver in agreement: then change the fleets.
            await until_all_held(watcher, names, cfg.settle_timeout)
            for fleet in fleets.values():
                fleet.advance(3600.0)
            # Kill the instance that holds the most tenants, mid-work.
            await asyncio.sleep(0.5)
            held = await holders(watcher)
            victim = Counter(held.values()).most_common(1)[0][0]
            lost_tenants = {t for t, owner in held.items() if owner == victim}
            # (source, epoch) of every lease the victim holds: epochs count per source
            old_leases = {(x.source, x.epoch) for x in await watcher.leases()
                          if x.owner == victim}
            if cfg.mode == "pause":
                daemons[victim].pause()
            else:
                daemons[victim].kill()
                await daemons[victim].wait()
            killed_at = time.monotonic()
            report.kills += 1
            pending = set(lost_tenants)
            deadline = killed_at + max(cfg.settle_timeout, 4 * cfg.lease_ttl)
            while pending and time.monotonic() < deadline:
                now_held = await holders(watcher)
                for tenant in list(pending):
                    owner = now_held.get(tenant)
                    if owner is not None and owner != victim:
                        report.takeover_s.append(round(time.monotonic() - killed_at, 2))
                        pending.discard(tenant)
                await asyncio.sleep(0.1)
            if cfg.mode == "pause":
                # Let the others catch up first, then wake the paused one up.
                await agreement(receiver, failing(fleets), cfg.settle_timeout)
                resumed_after = max((r.id for r in await watcher.sweeps(limit=1)), default=0)
                daemons[victim].resume()
                await daemons[victim].logged("lease.lost", cfg.settle_timeout)
                for _ in range(3):  # the tenants it swept before: no stale write since
                    for fleet in fleets.values():
                        fleet.advance(1200.0)
                    await agreement(receiver, failing(fleets), cfg.settle_timeout)
                report.stale_writes += sum(
                    1 for r in await watcher.sweeps(limit=10_000)
                    if r.id > resumed_after and r.instance == victim
                    and (r.stats.source, r.epoch) in old_leases
                )
            else:
                await daemons[victim].start(cfg.start_timeout)
            truth = failing(fleets)
            await agreement(receiver, truth, cfg.settle_timeout)
            told = receiver.view()
            need = dict.fromkeys(truth, "F") | {k: "R" for k, s in told.items()
                                                if k not in truth and s == "F"}
            report.due += sum(1 for k in need if (k in truth) != (k in previous))
            missing = disagreements(truth, told)
            report.lost += len(missing)
            report.lost_detail.extend(missing)
            previous = truth
        for d in daemons.values():
            await d.stop()
    finally:
        for d in daemons.values():
            d.kill()
            await d.wait()
        await watcher.close()
        for runner in runners:
            await runner.cleanup()
        if database:
            await _pg(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    report.delivered = len(receiver.received)
    seen = Counter(receiver.received)
    report.unique = len(seen)
    report.duplicates = report.delivered - report.unique
    if report.takeover_s:
        report.takeover_s_max = max(report.takeover_s)
        report.takeover_s_median = round(statistics.median(report.takeover_s), 2)
    report.seconds = round(time.monotonic() - t0, 1)
    return report


def fleet_spec_for(cfg: FailoverConfig, n: int) -> Any:
    """Tenant ``n``'s small fleet (its own seed, so device ids differ between tenants)."""
    return fleet_spec(CrashConfig(devices=cfg.devices, seed=cfg.seed * 100 + n))


async def until_all_held(store: SqlStore, tenants: list[str], timeout: float) -> None:
    """Wait until every tenant has a live lease holder."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if set(tenants) <= set(await holders(store)):
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"not every tenant was leased within {timeout:g}s")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its report as JSON; exit 1 if an invariant broke."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--instances", type=int, default=None,
                        help="daemons (default 3 on PostgreSQL, 2 on SQLite)")
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--lease-ttl", type=float, default=4.0, help="seconds")
    parser.add_argument("--pause", action="store_true",
                        help="SIGSTOP instead of SIGKILL (then SIGCONT): no stale write")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the configs, database and daemon logs in this folder")
    args = parser.parse_args(argv)
    configure_logging("warning", "console")  # stdout carries the JSON report only
    instances = args.instances or (3 if args.backend == "postgresql" else 2)
    cfg = FailoverConfig(backend=args.backend, instances=instances, kills=args.kills,
                         tenants=args.tenants, lease_ttl=args.lease_ttl, seed=args.seed,
                         mode="pause" if args.pause else "kill")
    with tempfile.TemporaryDirectory(prefix="failover-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        report = asyncio.run(run_failover(workdir, cfg))
    out = asdict(report)
    out["problems"] = report.problems()
    print(json.dumps(out, indent=2))
    return 1 if report.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
