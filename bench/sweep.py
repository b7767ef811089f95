"""The Kandji sweep strategies side by side, detection latency, and a 100,000-device
steady sweep, in one run printing one JSON object.

**Side by side** (``side_by_side``): one simulated tenant of ``--devices`` devices in a
process of its own, each strategy in its own process (so CPU and peak RSS are its own),
each sweeping twice: a *first* sweep, then, ``--interval`` seconds of fleet time later
(Macs check in every 15 minutes, iPhones and iPads every 4 hours), a *steady* sweep. The
simulator's fake clock stands still during a sweep, so every strategy sees the same
fleet; findings (fingerprint, status, summary, description) are compared across them.
The rules are the shipped packs with ``kandji.device.filevault-off`` switched on (a
details field), so the strategies differ in how they read details too:

- ``naive``: ``/status`` and ``/details`` of each device, one request at a time;
- ``before``: the planned sweep without the audit feed and Prism: blueprints and their
  item lists listed every sweep, details per device (``/details``) when checked in;
- ``planned``: the planned sweep as the daemon builds it from a source's config: the
  audit feed says when to list blueprints, FileVault comes from Prism (changed rows).

``requests_per_steady_sweep`` puts ``before`` and ``planned`` side by side. Here both
read a Mac's parameters whenever it checked in (as ``naive`` does, so that all three
observe the same facts; the product's default reads them at most once an hour), so
their parameter reads are the same.

**Detection latency** (``detection``, and ``rival`` with another integration spending
``--rival`` of the tenant's 10,000 requests an hour): :mod:`bench.latency`, in
simulated time, at ``--latency-devices`` devices on a ``--latency-budget`` an hour:
the cold start (the first full pass of the library items) apart, then
``--latency-hours`` of steady running with ``--failures`` failures injected.
``--only detection`` or ``--only rival`` runs one scenario (two processes can then
share a run's wall time).

**Scale** (``scale``): the planned sweep alone on ``--scale-devices`` devices (shipped
rules, product defaults: a Mac's parameters at most once an hour): the steady sweep's
requests against its lower bound (the device list, the audit feed, each item's status
pages, and the parameter and Prism reads it made), CPU seconds of sweep plus
evaluation, and the peak RSS of the steady sweep (the peak is reset before it,
``/proc/self/clear_refs``).

Usage::

    .venv/bin/python bench/sweep.py                       # everything, about 30 minutes
    .venv/bin/python bench/sweep.py --skip-scale --skip-latency --devices 2000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import json
import math
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent.parent))
TOKEN = "bench-token"  # noqa: S105  (the simulator guards nothing)
PAGE = 300
FILEVAULT_RULE = "kandji.device.filevault-off"


# --------------------------------------------------------------------------- simulator role


def item_pages(fleet: Any) -> int:
    """Each assigned item's fleet-wide status pages."""
    assigned = sorted({j for bp in fleet.blueprints for j in bp.item_indices})
    return sum(max(1, math.ceil(len(fleet.item_scope(fleet.items[j])) / PAGE)) for j in assigned)


async def run_simulator(args: argparse.Namespace) -> None:
    """Serve the tenant; answer the parent's commands on stdin, one JSON line each."""
    from monitor.clock import FakeClock
    from monitor.log import configure_logging
    from monitor.simulator.kandji import FleetSpec, start_kandji
    from monitor.sources.kandji.api import DEVICE_PARAMETERS
    from monitor.sources.kandji.feeds import PRISM

    configure_logging("warning", stream=sys.stderr)
    clock = FakeClock()
    spec = FleetSpec(devices=args.devices, library_items=args.items, seed=args.seed)
    runner, url, sim = await start_kandji(
        clock=clock, spec=spec, token=TOKEN, latency_ms=args.latency_ms,
        per_second=None, per_hour=None,
    )
    fleet = sim.fleet
    reply({"url": url, "now": clock.now().isoformat()})
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            cmd = json.loads(line)
            if cmd["cmd"] == "count":
                log = sim.requests
                reply({"total": log.total, "parameters": log.count(DEVICE_PARAMETERS),
                       "prism": log.count(PRISM)})
            elif cmd["cmd"] == "latency":
                sim.latency_ms = float(cmd["ms"])
                reply({"latency_ms": sim.latency_ms})
            elif cmd["cmd"] == "shape":
                reply({"device_pages": fleet.device_count // PAGE + 1,
                       "item_pages": item_pages(fleet)})
            elif cmd["cmd"] == "advance":
                clock.advance(float(cmd["seconds"]))
                fleet.advance(float(cmd["seconds"]))
                reply({"now": clock.now().isoformat()})
            elif cmd["cmd"] == "quit":
                reply({"bye": True})
                return
    finally:
        await runner.cleanup()


# --------------------------------------------------------------------------- strategy role


def peak_rss_mb() -> float:
    """This process's peak resident set size since start or the last reset (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def reset_peak_rss() -> None:
    """Make the current RSS the peak again (Linux: ``5`` to ``/proc/self/clear_refs``)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def bench_rules(details: bool) -> Any:
    """The shipped rules, with the FileVault rule (a details field) on when asked."""
    from monitor.engine import RuleSet, load_rules

    rules = load_rules([], builtin=True)
    if not details:
        return rules
    return RuleSet([
        dataclasses.replace(r, enabled=True) if r.id == FILEVAULT_RULE else r for r in rules.rules
    ])


def build_sweeper(args: argparse.Namespace, rules: Any) -> Any:
    """The strategy named by ``--role``, built as the daemon builds a source's."""
    from pydantic import SecretStr

    from monitor.clock import SystemClock
    from monitor.config import BudgetConfig
    from monitor.sources import registry
    from monitor.sources.budget import RequestBudget
    from monitor.sources.kandji.config import KandjiSourceConfig, PlannerConfig
    from monitor.sources.kandji.per_device import KandjiPerDeviceSweeper
    from monitor.sources.kandji.planned import KandjiPlannedSweeper

    naive = args.role == "naive"
    config = KandjiSourceConfig(
        name="bench", kind="kandji", url=args.url, token=SecretStr(TOKEN),
        interval=timedelta(seconds=args.interval), timeout=timedelta(seconds=300),
        planner=PlannerConfig(parameters_every=timedelta(seconds=args.parameters_every)),
        budget=BudgetConfig(requests_per_hour=1_000_000,
                            burst_per_second=1000 if naive else args.rate,
                            concurrency=1 if naive else args.concurrency),
    )
    clock = SystemClock()
    budget = RequestBudget(config.budget, clock)
    parts = registry.get("kandji").build(
        config, clock=clock, token=SecretStr(TOKEN), budget=budget, on_request=None, rules=rules
    )
    if naive:
        return KandjiPerDeviceSweeper(parts.client, "bench")
    sweeper = parts.sweeper
    if args.role == "before":
        assert isinstance(sweeper, KandjiPlannedSweeper)
        knobs = config.planner
        sweeper = KandjiPlannedSweeper(
            parts.client, "bench", keep=sweeper.keep, interval=args.interval,
            per_device_share=knobs.per_device_share,
            parameters_every=knobs.parameters_every.total_seconds(),
            prism_fields=None, audit_feed=False,
        )
    return sweeper


async def run_strategy(args: argparse.Namespace) -> None:
    """Sweep when told to; answer with the sweep's cost, time and a findings digest."""
    from monitor.engine import evaluate
    from monitor.log import configure_logging
    from monitor.models import SourceKind

    configure_logging("warning", stream=sys.stderr)
    rules = bench_rules(args.details)
    needs = rules.needs(SourceKind("kandji"))
    sweeper = build_sweeper(args, rules)
    loop = asyncio.get_running_loop()
    reply({"ready": True})
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            cmd = json.loads(line)
            if cmd["cmd"] == "quit":
                reply({"bye": True})
                return
            now = datetime.fromisoformat(cmd["now"])
            reset_peak_rss()
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
                "ok": outcome.ok, "requests": outcome.requests, "wall_s": round(wall, 3),
                "cpu_s": round(cpu, 3), "findings": len(findings), "digest": digest.hexdigest(),
                "peak_rss_mb": peak_rss_mb(),
            }
            report = getattr(sweeper, "last_report", None)
            if report is not None:
                plan = report.plan
                answer["plan"] = {
                    "list_feed_discovery_prism": report.discovery_requests,
                    "probes": report.probe_requests, "item_pages": plan.item_pages,
                    "parameter_reads": len(plan.parameter_reads),
                    "details_reads": len(plan.details_reads),
                    "deferred_items": len(plan.deferred_items),
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

    def __init__(self, role: str, args: argparse.Namespace, devices: int, url: str = "",
                 details: bool = True, parameters_every: float = 3600.0) -> None:
        argv = [sys.executable, str(HERE), "--role", role, "--devices", str(devices),
                "--items", str(args.items), "--seed", str(args.seed),
                "--latency-ms", str(args.latency_ms), "--rate", str(args.rate),
                "--concurrency", str(args.concurrency), "--interval", str(args.interval),
                "--parameters-every", str(parameters_every)]
        if not details:
            argv.append("--no-details")
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

    def close(self) -> None:
        self.ask(cmd="quit")
        self.proc.wait(timeout=60)


def sweeps(roles: list[str], args: argparse.Namespace, devices: int, details: bool,
           latency: dict[str, float], parameters_every: float) -> dict[str, Any]:
    """A first and a steady sweep of each role against one tenant."""
    sim = Child("sim", args, devices)
    started = sim.read()
    children = {
        role: Child(role, args, devices, started["url"], details, parameters_every)
        for role in roles
    }
    for child in children.values():
        child.read()
    now = started["now"]
    results: dict[str, dict[str, Any]] = {role: {} for role in roles}
    try:
        for phase in ("first", "steady"):
            if phase == "steady":
                now = sim.ask(cmd="advance", seconds=args.interval)["now"]
            for role in roles:
                sim.ask(cmd="latency", ms=latency.get(role, args.latency_ms))
                before = sim.ask(cmd="count")
                result = children[role].ask(cmd="sweep", now=now)
                after = sim.ask(cmd="count")
                result["served"] = after["total"] - before["total"]
                result["served_parameters"] = after["parameters"] - before["parameters"]
                result["served_prism"] = after["prism"] - before["prism"]
                results[role][phase] = result
        shape = sim.ask(cmd="shape")
        for child in children.values():
            child.close()
    finally:
        sim.close()
    return {"results": results, "shape": shape}


def side_by_side(args: argparse.Namespace) -> dict[str, Any]:
    """Naive, before and planned on one tenant (see the module docstring)."""
    roles = ["before", "planned"]
    if args.devices <= args.skip_naive_above:
        roles.insert(0, "naive")
    # Parameters read on every check-in, as the naive sweep reads them: same facts.
    run = sweeps(roles, args, args.devices, True, {"naive": args.naive_latency_ms}, 0.0)
    results = run["results"]
    strategies = {}
    for role, phases in results.items():
        steady = phases["steady"]
        strategies[role] = {
            **{k: steady[k] for k in ("requests", "served", "cpu_s", "wall_s", "findings", "ok")},
            "plan": steady.get("plan"),
            "first_sweep": {k: phases["first"][k] for k in ("requests", "cpu_s", "ok")},
        }
    equal = all(
        len({results[r][p]["digest"] for r in roles}) == 1 for p in ("first", "steady")
    )
    return {
        "devices": args.devices,
        "items": args.items,
        "interval_s": args.interval,
        "rules": f"shipped packs + {FILEVAULT_RULE}",
        "findings_equal": equal,
        "requests_per_steady_sweep": {
            "before_prism_and_audit_feed": results["before"]["steady"]["requests"],
            "after_prism_and_audit_feed": results["planned"]["steady"]["requests"],
        },
        "strategies": strategies,
    }


def scale(args: argparse.Namespace) -> dict[str, Any]:
    """The planned sweep alone at ``--scale-devices`` (see the module docstring)."""
    run = sweeps(["planned"], args, args.scale_devices, False, {}, 3600.0)
    steady, first = run["results"]["planned"]["steady"], run["results"]["planned"]["first"]
    shape = run["shape"]
    bound = (shape["device_pages"] + 1 + shape["item_pages"] + steady["served_parameters"]
             + steady["served_prism"])
    return {
        "devices": args.scale_devices,
        "items": args.items,
        "steady_requests": steady["requests"],
        "lower_bound_requests": bound,
        "requests_over_lower_bound": round(steady["requests"] / bound, 3),
        "steady_cpu_s": steady["cpu_s"],
        "steady_peak_rss_mb": steady["peak_rss_mb"],
        "steady_wall_s": steady["wall_s"],
        "steady_plan": steady.get("plan"),
        "first_sweep": {k: first[k] for k in ("requests", "cpu_s", "wall_s", "peak_rss_mb")},
        "targets": {"peak_rss_mb": 400, "cpu_s": 20, "requests_over_lower_bound": 1.10},
    }


def latency(args: argparse.Namespace, rival: float) -> dict[str, Any]:
    from bench.latency import Scenario, run_latency
    from monitor.log import configure_logging

    configure_logging("warning", "console", stream=sys.stderr)
    scenario = Scenario(
        devices=args.latency_devices, items=args.items, budget=args.latency_budget,
        rival=rival, interval=args.latency_interval, share=args.latency_share,
        hours=args.latency_hours, failures=args.failures, seed=args.seed,
    )
    result = asyncio.run(run_latency(scenario))
    result["target_s"] = 900
    return result


def main_parent(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    out: dict[str, Any] = {"side_by_side": side_by_side(args)}
    if not args.skip_latency:
        if args.only in (None, "detection"):
            out["detection"] = latency(args, 0.0)
        if args.only in (None, "rival"):
            out["rival"] = latency(args, args.rival)
    if not args.skip_scale:
        out["scale"] = scale(args)
    out["bench_wall_s"] = round(time.perf_counter() - t0, 1)
    return out


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, default=10_000)
    p.add_argument("--items", type=int, default=60)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--interval", type=float, default=300.0, help="fleet seconds between sweeps")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--naive-latency-ms", type=float, default=0.0)
    p.add_argument("--skip-naive-above", type=int, default=20_000)
    p.add_argument("--rate", type=float, default=1000.0, help="planned: requests per second")
    p.add_argument("--concurrency", type=int, default=16, help="planned: requests in flight")
    p.add_argument("--latency-devices", type=int, default=10_000)
    p.add_argument("--latency-budget", type=int, default=5000)
    p.add_argument("--latency-interval", type=float, default=900.0)
    p.add_argument("--latency-share", type=float, default=0.05)
    p.add_argument("--latency-hours", type=float, default=2.5,
                   help="simulated hours of steady running after the cold start")
    p.add_argument("--only", choices=("detection", "rival"), default=None,
                   help="run only this latency scenario (with --skip-scale)")
    p.add_argument("--failures", type=int, default=120)
    p.add_argument("--rival", type=float, default=5000.0, help="rival requests per hour")
    p.add_argument("--scale-devices", type=int, default=100_000)
    p.add_argument("--skip-latency", action="store_true")
    p.add_argument("--skip-scale", action="store_true")
    p.add_argument("--no-details", dest="details", action="store_false")
    p.add_argument("--role", choices=("parent", "sim", "naive", "before", "planned"),
                   default="parent")
    p.add_argument("--url", default="")
    p.add_argument("--parameters-every", type=float, default=3600.0, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main() -> None:
    args = parse()
    if args.role == "sim":
        asyncio.run(run_simulator(args))
    elif args.role in ("naive", "before", "planned"):
        asyncio.run(run_strategy(args))
    else:
        print(json.dumps(main_parent(args), indent=2))


if __name__ == "__main__":
    main()
