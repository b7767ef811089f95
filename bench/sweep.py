"""The planned Kandji sweep against the naive one, side by side in one run.

Strategies, each in its own process (so peak RSS and CPU are its own), against one
simulated tenant in a third process (its CPU counts for neither):

- ``naive``: list the devices, then ``GET /devices/{id}/status`` for each device, one
  request at a time, as Kandji's sample scripts do (the per-device sweeper with a
  concurrency of 1);
- ``planned``: :class:`~monitor.sources.kandji.planned.KandjiPlannedSweeper` with the budget's
  default concurrency (8) and a per-second rate of ``--rate`` (Kandji allows 50).

The simulator serves with ``--latency-ms`` per request and no hourly limit, on a fake
clock that stands still during a sweep, so both strategies see the same fleet state.
Each strategy sweeps twice: a *first* sweep (nothing known yet), then, after
``--interval`` seconds of fleet time (Macs check in every 15 minutes, iPhones and
iPads every 4 hours; failures and recoveries happen as the simulator's churn says), a
*steady* sweep. The headline numbers are the steady sweep's; the first sweep's are
under ``first_sweep``. Both sweeps' findings (fingerprint, status, summary and
description of every finding of the shipped rule packs) are compared across strategies.

``lower_bound_requests`` is the fewest requests that observe every fact the enabled
rules need through the documented endpoints, counted from the fleet itself: the device
list (``N // 300 + 1`` pages: a bare list ends on a short page), then the cheaper of
(a) ``/blueprints``, each blueprint's item list and each item's status pages, plus one
parameters read per Mac that checked in since the last sweep (every Mac on a first
sweep), or (b) one ``/status`` per device. It leaves out what the planned sweep spends
to learn each item's type (the fleet-wide rows do not carry it) on a first sweep.

What to expect: with the shipped packs the parameter rule makes every Mac that checked
in since the last sweep cost one read, and Macs check in every 15 minutes, so the
steady sweep's cost grows with ``--interval`` (about ``Macs * interval / 900`` parameter
reads on top of the fleet-wide item pages) and so does its lower bound; a first sweep
reads every Mac. Compare strategies per sweep at the same interval, as this does.

Usage::

    .venv/bin/python bench/sweep.py --devices 10000 --items 60 --latency-ms 20
    .venv/bin/python bench/sweep.py --devices 100000 --items 60 --rate 1000 \
        --concurrency 16 --skip-naive-above 20000

Naive sequential sweeps of 100,000 devices with latency take hours: ``--naive-latency-ms``
serves the naive strategy with a smaller latency, ``--skip-naive-above`` skips it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import resource
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve()
TOKEN = "bench-token"  # noqa: S105  (the simulator guards nothing)
PAGE = 300


# --------------------------------------------------------------------------- simulator role


def lower_bound(fleet: Any, checked_in_macs: int | None) -> int:
    """Fewest requests observing every needed fact (see the module docstring)."""
    n = fleet.device_count
    device_pages = n // PAGE + 1
    discovery = 1 + len(fleet.blueprints)
    assigned = sorted({j for bp in fleet.blueprints for j in bp.item_indices})
    item_pages = sum(
        max(1, math.ceil(len(fleet.item_scope(fleet.items[j])) / PAGE)) for j in assigned
    )
    if checked_in_macs is None:
        checked_in_macs = sum(1 for i in fleet.device_indices() if fleet.platform_of(i) == "Mac")
    return int(device_pages + min(discovery + item_pages + checked_in_macs, n))


def mac_check_ins(fleet: Any) -> dict[int, datetime | None]:
    """Every live Mac's last check-in now."""
    return {
        i: fleet.device(i).last_check_in
        for i in fleet.device_indices()
        if fleet.platform_of(i) == "Mac"
    }


async def run_simulator(args: argparse.Namespace) -> None:
    """Serve the tenant; answer the parent's commands on stdin, one JSON line each."""
    from monitor.clock import FakeClock
    from monitor.log import configure_logging
    from monitor.simulator.kandji import FleetSpec, start_kandji

    configure_logging("warning", stream=sys.stderr)
    clock = FakeClock()
    spec = FleetSpec(devices=args.devices, library_items=args.items, seed=args.seed)
    runner, url, sim = await start_kandji(
        clock=clock,
        spec=spec,
        token=TOKEN,
        latency_ms=args.latency_ms,
        per_second=None,
        per_hour=None,
    )
    # The request log keeps a bounded window of records; its counters count everything.
    fleet = sim.fleet
    reply({"url": url, "now": clock.now().isoformat()})
    before = mac_check_ins(fleet)
    checked_in: int | None = None
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            cmd = json.loads(line)
            if cmd["cmd"] == "count":
                reply({"total": sim.requests.total})
            elif cmd["cmd"] == "latency":
                sim.latency_ms = float(cmd["ms"])
                reply({"latency_ms": sim.latency_ms})
            elif cmd["cmd"] == "lower_bound":
                reply({"lower_bound": lower_bound(fleet, checked_in)})
            elif cmd["cmd"] == "advance":
                seconds = float(cmd["seconds"])
                clock.advance(seconds)
                changes = fleet.advance(seconds)
                after = mac_check_ins(fleet)
                checked_in = sum(1 for i, t in after.items() if before.get(i) != t)
                before = after
                reply({"now": clock.now().isoformat(), "changes": len(changes), "macs": checked_in})
            elif cmd["cmd"] == "quit":
                reply({"bye": True})
                return
    finally:
        await runner.cleanup()


# --------------------------------------------------------------------------- strategy role


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


async def run_strategy(args: argparse.Namespace) -> None:
    """Sweep when told to; answer with the sweep's cost, time and a findings digest."""
    from pydantic import SecretStr

    from monitor.clock import SystemClock
    from monitor.config import BudgetConfig
    from monitor.engine import evaluate, load_rules
    from monitor.log import configure_logging
    from monitor.models import SourceKind, SubjectKind
    from monitor.sources.base import Sweeper
    from monitor.sources.kandji.client import KandjiClient
    from monitor.sources.kandji.config import KandjiSourceConfig
    from monitor.sources.kandji.per_device import KandjiPerDeviceSweeper
    from monitor.sources.kandji.planned import KandjiPlannedSweeper

    configure_logging("warning", stream=sys.stderr)
    naive = args.role == "naive"
    config = KandjiSourceConfig(
        name="bench",
        kind="kandji",
        url=args.url,
        token=SecretStr(TOKEN),
        timeout=timedelta(seconds=120),
        budget=BudgetConfig(
            requests_per_hour=1_000_000,
            burst_per_second=1000 if naive else args.rate,
            concurrency=1 if naive else args.concurrency,
        ),
    )
    rules = load_rules([], builtin=True)
    needs = rules.needs(SourceKind("kandji"))
    client = KandjiClient(config, clock=SystemClock())
    sweeper: Sweeper
    if naive:
        sweeper = KandjiPerDeviceSweeper(client, "bench")
    else:
        plans = {p.kind: p for p in rules.plan(SourceKind("kandji"))}

        def keep(kind: SubjectKind, status: str, type_: str) -> bool:
            plan = plans.get(kind)
            return plan is not None and bool(plan.candidates(status, type_))

        sweeper = KandjiPlannedSweeper(client, "bench", keep=keep)
    loop = asyncio.get_running_loop()
    reply({"ready": True})
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            cmd = json.loads(line)
            if cmd["cmd"] == "quit":
                reply({"peak_rss_mb": peak_rss_mb()})
                return
            now = datetime.fromisoformat(cmd["now"])
            wall0, cpu0 = time.perf_counter(), time.process_time()
            outcome = await sweeper.sweep(needs)
            findings = evaluate(rules, outcome.facts(), now)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            digest = hashlib.sha256()
            for f in sorted(
                (f.fingerprint, f.subject_status, f.summary, f.description) for f in findings
            ):
                digest.update("\x1f".join(f).encode())
                digest.update(b"\x1e")
            answer: dict[str, Any] = {
                "ok": outcome.ok,
                "requests": outcome.requests,
                "wall_s": round(wall, 3),
                "cpu_s": round(cpu, 3),
                "findings": len(findings),
                "digest": digest.hexdigest(),
                "peak_rss_mb": peak_rss_mb(),
            }
            report = getattr(sweeper, "last_report", None)
            if report is not None:
                answer["predicted_requests"] = report.predicted_requests
                answer["plan"] = {
                    "discovery": report.discovery_requests,
                    "probes": report.probe_requests,
                    "item_pages": report.plan.item_pages,
                    "parameter_reads": len(report.plan.parameter_reads),
                    "status_reads": len(report.plan.status_reads),
                }
            del outcome, findings
            reply(answer)
    finally:
        await sweeper.close()


# --------------------------------------------------------------------------- parent


def reply(message: dict[str, Any]) -> None:
    """One protocol line on stdout."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


class Child:
    """A role of this script in a subprocess, spoken to in JSON lines."""

    def __init__(self, role: str, args: argparse.Namespace, url: str = "") -> None:
        argv = [sys.executable, str(HERE), "--role", role, *forwarded(args)]
        if url:
            argv += ["--url", url]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def read(self) -> dict[str, Any]:
        stdout: IO[str] | None = self.proc.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"child {self.proc.args!r} ended ({self.proc.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, **command: Any) -> dict[str, Any]:
        stdin = self.proc.stdin
        assert stdin is not None
        stdin.write(json.dumps(command) + "\n")
        stdin.flush()
        return self.read()

    def close(self) -> dict[str, Any]:
        answer = self.ask(cmd="quit")
        self.proc.wait(timeout=60)
        return answer


def forwarded(args: argparse.Namespace) -> list[str]:
    return [
        "--devices",
        str(args.devices),
        "--items",
        str(args.items),
        "--seed",
        str(args.seed),
        "--latency-ms",
        str(args.latency_ms),
        "--rate",
        str(args.rate),
        "--concurrency",
        str(args.concurrency),
    ]


def sweep(sim: Child, strategy: Child, now: str, latency: float) -> dict[str, Any]:
    """One sweep of one strategy, with the simulator's own request count around it."""
    sim.ask(cmd="latency", ms=latency)
    before = sim.ask(cmd="count")["total"]
    result = strategy.ask(cmd="sweep", now=now)
    result["served"] = sim.ask(cmd="count")["total"] - before
    return result


def headline(result: dict[str, Any]) -> dict[str, Any]:
    keys = ("requests", "wall_s", "cpu_s", "peak_rss_mb", "findings")
    return {k: result[k] for k in keys}


def main_parent(args: argparse.Namespace) -> dict[str, Any]:
    sim = Child("sim", args)
    started = sim.read()
    url, now = started["url"], started["now"]
    run_naive = args.skip_naive_above is None or args.devices <= args.skip_naive_above
    naive_latency = args.latency_ms if args.naive_latency_ms is None else args.naive_latency_ms
    children = {"planned": Child("planned", args, url)}
    if run_naive:
        children["naive"] = Child("naive", args, url)
    for child in children.values():
        child.read()
    latency = {"naive": naive_latency, "planned": args.latency_ms}
    results: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in children}
    bounds: dict[str, int] = {}
    try:
        for phase in ("first", "steady"):
            if phase == "steady":
                now = sim.ask(cmd="advance", seconds=args.interval)["now"]
            bounds[phase] = sim.ask(cmd="lower_bound")["lower_bound"]
            for name in ("naive", "planned"):
                if name in children:
                    results[name][phase] = sweep(sim, children[name], now, latency[name])
        peaks = {name: child.close()["peak_rss_mb"] for name, child in children.items()}
    finally:
        sim.close()
    strategies: dict[str, Any] = {}
    for name, phases in results.items():
        steady, first = dict(phases["steady"]), dict(phases["first"])
        steady["peak_rss_mb"] = first["peak_rss_mb"] = peaks[name]
        entry = headline(steady)
        entry["served"] = steady["served"]
        entry["ok"] = steady["ok"]
        entry["first_sweep"] = {**headline(first), "served": first["served"], "ok": first["ok"]}
        if name == "planned":
            entry["lower_bound_requests"] = bounds["steady"]
            entry["predicted_requests"] = steady["predicted_requests"]
            entry["plan"] = steady["plan"]
            entry["first_sweep"]["lower_bound_requests"] = bounds["first"]
            entry["first_sweep"]["predicted_requests"] = first["predicted_requests"]
            entry["first_sweep"]["plan"] = first["plan"]
        entry["latency_ms"] = latency[name]
        strategies[name] = entry
    equal: bool | None = None
    if run_naive:
        equal = all(
            results["naive"][p]["digest"] == results["planned"][p]["digest"]
            for p in ("first", "steady")
        )
    else:
        strategies["naive"] = {"skipped": True, "reason": f"more than {args.skip_naive_above}"}
    budget = 5000.0
    detection = {
        name: round(entry["requests"] / budget * 3600, 1)
        for name, entry in strategies.items()
        if "requests" in entry
    }
    return {
        "devices": args.devices,
        "items": args.items,
        "findings_equal": equal,
        "strategies": strategies,
        "interval_s": args.interval,
        "latency_ms": args.latency_ms,
        "seconds_per_sweep_at_5000_requests_per_hour": detection,
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, default=10_000)
    p.add_argument("--items", type=int, default=60)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--latency-ms", type=float, default=20.0)
    p.add_argument("--naive-latency-ms", type=float, default=None)
    p.add_argument("--skip-naive-above", type=int, default=None)
    p.add_argument("--interval", type=float, default=300.0, help="fleet seconds between sweeps")
    p.add_argument("--rate", type=float, default=50.0, help="planned: requests per second")
    p.add_argument("--concurrency", type=int, default=8, help="planned: requests in flight")
    p.add_argument("--role", choices=("parent", "sim", "naive", "planned"), default="parent")
    p.add_argument("--url", default="")
    return p.parse_args(argv)


def main() -> None:
    args = parse()
    if args.role == "sim":
        asyncio.run(run_simulator(args))
    elif args.role in ("naive", "planned"):
        asyncio.run(run_strategy(args))
    else:
        print(json.dumps(main_parent(args), indent=2))


if __name__ == "__main__":
    main()
