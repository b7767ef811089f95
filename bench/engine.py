"""Micro-benchmark of the rule engine: subject evaluations per second.

A synthetic Kandji fleet (``--devices`` x ``--items`` library items, plus parameters)
is evaluated with the shipped rule packs, every rule switched on. Most subjects pass,
as in a real fleet; ``--problem-rate`` of them are in ERROR, INCOMPATIBLE or failed.
The same facts are then evaluated the obvious way (every rule on every subject, no
status index, no per-device cache) on a slice of the fleet, and the ratio is printed,
measured side by side in one run.

    .venv/bin/python bench/engine.py --devices 100000 --items 60
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.engine import RuleSet, evaluate, evaluate_subject, load_rules
from monitor.models import Device, Finding, SourceKind, Subject, SubjectKind

NOW = datetime(2026, 1, 20, 12, 0, tzinfo=UTC)
LI, PARAM = SubjectKind.LIBRARY_ITEM, SubjectKind.PARAMETER
Facts = list[tuple[Device, Mapping[SubjectKind, Sequence[Subject]]]]


def all_rules_enabled() -> RuleSet:
    """The shipped packs with every rule switched on (the most work the engine can do)."""
    shipped = load_rules([])
    with tempfile.TemporaryDirectory() as tmp:
        mine = Path(tmp) / "enable-all.yaml"
        mine.write_text(
            "overrides:\n" + "".join(f"  - id: {r.id}\n    enabled: true\n" for r in shipped.rules)
        )
        return load_rules([mine])


def fleet(devices: int, items: int, params: int, problem_rate: float, seed: int) -> Facts:
    """A synthetic fleet; subjects are shared immutable objects, as a sweep may share them."""
    rng = random.Random(seed)
    problems = ["ERROR", "INCOMPATIBLE", "failed", "PENDING"]
    item_pool = {
        (k, status): Subject(
            LI,
            f"item-{k}",
            f"Item {k}",
            status,
            "profile" if k % 5 == 0 else "custom-app",
            {"log": "exit 1"} if status == "ERROR" else {},
        )
        for k in range(items)
        for status in ["PASS", "success", *problems]
    }
    param_pool = {
        (k, status): Subject(
            PARAM, f"param-{k}", f"Param {k}", status, "parameter", {"category": "Security"}
        )
        for k in range(params)
        for status in ("PASS", "ERROR")
    }
    out: Facts = []
    for n in range(devices):
        dev = Device(
            source="bench",
            source_kind=SourceKind("kandji"),
            device_id=f"dev-{n}",
            name=f"Mac {n}",
            platform="Mac" if n % 4 else "iPhone",
            os_version=rng.choice(["13.6.1", "14.4.1", "15.1"]),
            last_check_in=NOW - timedelta(hours=rng.randrange(0, 24 * 10)),
            attrs={"mdm.enabled": True, "agent.installed": True, "filevault.enabled": n % 50 != 0},
        )
        lib = [
            item_pool[
                (
                    k,
                    rng.choice(problems)
                    if rng.random() < problem_rate
                    else ("success" if k % 5 == 0 else "PASS"),
                )
            ]
            for k in range(items)
        ]
        par = [
            param_pool[(k, "ERROR" if rng.random() < problem_rate else "PASS")]
            for k in range(params)
        ]
        out.append((dev, {LI: lib, PARAM: par}))
    return out


def obvious(rs: RuleSet, facts: Facts) -> list[Finding]:
    """Every enabled rule on every subject, one call each."""
    found: list[Finding] = []
    for dev, subjects in facts:
        for rule in rs.enabled:
            pool: Sequence[Subject | None] = (
                [None] if rule.subject is SubjectKind.DEVICE else subjects.get(rule.subject, [])
            )
            for s in pool:
                f = evaluate_subject(rule, dev, s, NOW)
                if f is not None:
                    found.append(f)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print evaluations per second."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=60)
    parser.add_argument("--params", type=int, default=0, help="parameters per device")
    parser.add_argument("--problem-rate", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--baseline-devices",
        type=int,
        default=2000,
        help="devices evaluated the obvious way for the ratio",
    )
    args = parser.parse_args(argv)

    rs = all_rules_enabled()
    t0 = time.perf_counter()
    facts = fleet(args.devices, args.items, args.params, args.problem_rate, args.seed)
    built = time.perf_counter() - t0
    subjects = args.devices * (args.items + args.params)

    t0 = time.perf_counter()
    findings = evaluate(rs, facts, NOW)
    took = time.perf_counter() - t0

    sample = facts[: args.baseline_devices]
    t0 = time.perf_counter()
    indexed = evaluate(rs, sample, NOW)
    indexed_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    plain = obvious(rs, sample)
    plain_s = time.perf_counter() - t0
    if sorted(f.fingerprint for f in indexed) != sorted(f.fingerprint for f in plain):
        print("MISMATCH between indexed and obvious evaluation", file=sys.stderr)
        return 1

    print(f"rules enabled:         {len(rs.enabled)}")
    print(
        f"fleet:                 {args.devices} devices x {args.items + args.params} subjects "
        f"(built in {built:.1f}s)"
    )
    print(f"findings:              {len(findings)}")
    print(
        f"evaluate():            {took:.2f}s  {subjects / took:,.0f} subject evaluations/s  "
        f"{args.devices / took:,.0f} devices/s"
    )
    print(
        f"obvious vs indexed:    {plain_s / indexed_s:.1f}x slower on {len(sample)} devices "
        f"({len(indexed)} findings each way)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
