"""Crash test of notification delivery: SIGKILL the daemon again and again, lose nothing.

A simulated Kandji tenant runs in this process and evolves in rounds (items fail and
recover, :meth:`~monitor.simulator.kandji.fleet.Fleet.advance`). The daemon runs as a real
``python -m monitor.cli run -c CONFIG`` process and delivers through apprise's json://
to a webhook in this process that records every payload. Each round, after the fleet
changed, the daemon is killed with SIGKILL several times, each time at a random moment
of one of these kinds, and restarted:

- ``timer``     a random delay after it started;
- ``sweep``     while it sweeps: after a random number of API requests;
- ``sent``      while it delivers: the receiver got the message but has not answered;
- ``arriving``  while it delivers: the request arrived, the receiver has not read it.

Then the daemon runs undisturbed until what the receiver was told agrees with the fleet:
every failing item announced as firing, every item announced and since recovered
announced as resolved. A notification still missing after ``settle_timeout`` seconds
is lost. The receiver's body template is machine-readable (``F device item`` and ``R
device item`` lines plus the evaluation time), so the truth is checked independently of
the daemon's own records, and a message received twice is an exact duplicate.

Invariants checked: nothing lost; a message is received twice only across a crash (never
twice by one daemon process); every message the outbox holds was received; none is left
undelivered.

    .venv/bin/python bench/crash.py --rounds 20 --kills-per-round 4 --seed 1

prints one JSON object: {runs, kills, due, delivered, lost, duplicated, ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from monitor.clock import SystemClock
from monitor.simulator.kandji import Fleet, FleetSpec, KandjiSimulator, make_kandji_app

REPO = Path(__file__).resolve().parents[1]
TOKEN = "crash-test-token-7c2e"  # noqa: S105 - the simulator's; guards nothing real
KILL_KINDS = ("timer", "sweep", "sent", "arriving")
IDLE = "idle"  # an armed kill that found nothing to interrupt, done on a timer instead
KILL_WEIGHTS = (4, 3, 2, 1)
FAILING = frozenset({"ERROR", "failed"})
Pair = tuple[str, str]  # (device id, library item id)

RULES = """\
version: 1
rules:
  - id: crash.item.failed
    source: kandji
    subject: library_item
    match:
      status: [ERROR, failed]
    severity: warning
    summary: "{{ subject.name }} is {{ subject.status }} on {{ device.name }}"
"""

CONFIG = """\
sources:
  - name: tenant
    kind: kandji
    url: {url}
    token: {token}
    interval: 1s
    strategy: per_device
    timeout: 5s
    budget: {{requests_per_hour: 1000000, burst_per_second: 1000, concurrency: 4}}
    retry: {{max_attempts: 2, backoff_base: 50ms, backoff_max: 100ms}}
rules:
  builtin: false
  files: [{rules}]
receivers:
  - name: hook
    urls: ["{hook}"]
    send_resolved: true
    max_devices: 1000
    body_template: |-
      {{% for a in firing %}}F {{{{ a.device_id }}}} {{{{ a.subject_id }}}}
      {{% endfor %}}{{% for a in resolved %}}R {{{{ a.device_id }}}} {{{{ a.subject_id }}}}
      {{% endfor %}}@ {{{{ now }}}} {{{{ group_labels.device_id }}}}
route:
  receiver: hook
  group_by: [device_id]
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
  path: {db}
web:
  enabled: false
log:
  level: info
  format: json
shutdown_grace: 3s
"""


@dataclass(frozen=True)
class CrashConfig:
    """The knobs of one crash run."""

    rounds: int = 8
    kills_per_round: int = 4
    devices: int = 30
    seed: int = 1
    settle_timeout: float = 30.0
    start_timeout: float = 20.0
    max_kill_delay: float = 2.0
    armed_kill_timeout: float = 2.5
    # A negative control: the receiver answers 200 to its first N messages but forgets
    # them, as an at-most-once system would; the run must then report them lost.
    drop_deliveries: int = 0


@dataclass
class CrashReport:
    """What one crash run did and found (see the module docstring)."""

    runs: int = 0
    kills: int = 0
    kill_kinds: dict[str, int] = field(default_factory=dict)
    rounds: int = 0
    fleet_changes: int = 0
    due: int = 0
    delivered: int = 0
    unique: int = 0
    duplicated: int = 0
    lost: int = 0
    lost_detail: list[str] = field(default_factory=list)
    duplicated_within_one_run: int = 0
    most_duplicated_by_one_crash: int = 0
    outbox_messages: int = 0
    outbox_undelivered: int = 0
    outbox_not_received: int = 0
    seconds: float = 0.0

    def problems(self) -> list[str]:
        """Every broken invariant, in words (empty when all hold)."""
        out = []
        if self.lost:
            out.append(f"{self.lost} notification(s) lost: {self.lost_detail[:10]}")
        if self.duplicated_within_one_run:
            out.append(f"{self.duplicated_within_one_run} message(s) received twice from one "
                       "daemon process (a duplicate without a crash)")
        if self.outbox_undelivered:
            out.append(f"{self.outbox_undelivered} outbox message(s) never delivered")
        if self.outbox_not_received:
            out.append(f"{self.outbox_not_received} outbox message(s) marked delivered that "
                       "the receiver never got")
        return out


# --------------------------------------------------------------------- the receiver


@dataclass
class Received:
    """One request body the receiver recorded, and which daemon process sent it."""

    run: int
    title: str
    body: str


class Receiver:
    """The webhook: records every json:// payload; may kill the daemon mid-request."""

    def __init__(self, *, drop: int = 0) -> None:
        self.received: list[Received] = []
        self.arrived = asyncio.Event()
        self.drop = drop
        self.run = 0
        self.armed: str | None = None  # "sent" | "arriving"
        self.on_kill: Callable[[], None] | None = None

    async def handle(self, request: web.Request) -> web.Response:
        """Record the message (unless killed first) and answer 200."""
        if self.armed == "arriving" and self.on_kill is not None:
            self.armed = None
            self.on_kill()
            return web.Response(status=200)
        try:
            payload: dict[str, Any] = await request.json()
        except ConnectionResetError:  # the daemon died while sending: nothing arrived
            return web.Response(status=400)
        if self.drop > 0:
            self.drop -= 1
            return web.Response(status=200)
        self.received.append(
            Received(self.run, str(payload.get("title", "")), str(payload.get("message", "")))
        )
        self.arrived.set()
        if self.armed == "sent" and self.on_kill is not None:
            self.armed = None
            self.on_kill()
        return web.Response(status=200)

    def view(self) -> dict[Pair, str]:
        """What the receiver was told last about each pair: ``F`` firing, ``R`` resolved."""
        told: dict[Pair, str] = {}
        for message in self.received:
            for line in message.body.splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[0] in ("F", "R"):
                    told[(parts[1], parts[2])] = parts[0]
        return told


class KillableKandji(KandjiSimulator):
    """The simulated tenant, able to kill the daemon after its ``n``-th next request."""

    kill_after: int | None = None
    on_kill: Callable[[], None] | None = None

    async def authenticate(self, request: web.Request) -> web.StreamResponse | None:
        """Count the request towards an armed kill, then authenticate as usual."""
        if self.kill_after is not None and self.on_kill is not None:
            self.kill_after -= 1
            if self.kill_after <= 0:
                self.kill_after = None
                self.on_kill()
        return await super().authenticate(request)


# --------------------------------------------------------------------- the daemon


class Daemon:
    """``python -m monitor.cli run -c CONFIG`` as a child process."""

    def __init__(self, config: Path, log_file: Path) -> None:
        self.config = config
        self.log_file = log_file
        self.proc: asyncio.subprocess.Process | None = None
        self.started = asyncio.Event()
        self.runs = 0
        self._reader: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        """Whether the process runs (and has not been killed)."""
        return self.proc is not None and self.proc.returncode is None

    async def start(self, timeout: float) -> None:
        """Start the daemon and wait until it says it started."""
        self.started = asyncio.Event()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor.cli", "run", "-c", str(self.config),
            cwd=REPO, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        self.runs += 1
        self._reader = asyncio.create_task(self._read(self.proc, self.runs))
        try:
            await asyncio.wait_for(self.started.wait(), timeout)
        except TimeoutError:
            self.kill()
            raise RuntimeError(
                f"the daemon did not start within {timeout:g}s; see {self.log_file}"
            ) from None

    async def _read(self, proc: asyncio.subprocess.Process, run: int) -> None:
        assert proc.stderr is not None
        with self.log_file.open("a", encoding="utf-8") as log:
            log.write(f"=== run {run} pid {proc.pid}\n")
            async for raw in proc.stderr:
                line = raw.decode("utf-8", "replace")
                log.write(line)
                if '"event": "started"' in line:
                    self.started.set()

    def kill(self) -> None:
        """SIGKILL, at once (no clean-up of any kind happens in the daemon)."""
        if self.alive:
            assert self.proc is not None
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)

    async def wait(self) -> int | None:
        """Wait for the process to end; its exit status."""
        if self.proc is None:
            return None
        code = await self.proc.wait()
        if self._reader is not None:
            await self._reader
        return code

    async def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM and wait (a clean shutdown); SIGKILL if it takes too long."""
        if not self.alive:
            return await self.wait()
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.wait(), timeout)
        except TimeoutError:
            self.kill()
            return await self.wait()


# --------------------------------------------------------------------- truth


def failing_pairs(fleet: Fleet) -> set[Pair]:
    """The (device, item) pairs the fleet reports failing now: what must be firing."""
    out: set[Pair] = set()
    for i in fleet.device_indices():
        device_id = fleet.device_id(i)
        for state in fleet.device_items(i):
            if state.status in FAILING:
                out.add((device_id, state.item.id))
    return out


def required(truth: set[Pair], told: dict[Pair, str]) -> dict[Pair, str]:
    """What the receiver must have been told last: F for every failing pair, R for every
    pair it was told is firing that no longer fails."""
    need = dict.fromkeys(truth, "F")
    for pair, state in told.items():
        if pair not in truth and state == "F":
            need[pair] = "R"
    return need


def disagreements(truth: set[Pair], told: dict[Pair, str]) -> list[str]:
    """Where the receiver's view and the truth differ (empty when they agree)."""
    out = []
    for pair in sorted(truth):
        if told.get(pair) != "F":
            out.append(f"firing {pair[0]}/{pair[1]} not announced")
    for pair, state in sorted(told.items()):
        if pair not in truth and state != "R":
            out.append(f"resolved {pair[0]}/{pair[1]} not announced")
    return out


async def agreement(receiver: Receiver, truth: set[Pair], timeout: float) -> None:
    """Wait until the receiver's view agrees with ``truth``, or ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        receiver.arrived.clear()
        remaining = deadline - time.monotonic()
        if not disagreements(truth, receiver.view()) or remaining <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(receiver.arrived.wait(), remaining)


def fleet_spec(cfg: CrashConfig) -> FleetSpec:
    """A small fleet whose items fail and recover each simulated hour, nothing else."""
    return FleetSpec(
        devices=cfg.devices,
        seed=cfg.seed,
        library_items=12,
        items_per_blueprint=8,
        parameters=0,
        item_failure_rate=0.05,
        parameter_failure_rate=0.0,
        silent_rate=0.0,
        never_checked_in_rate=0.0,
        fail_per_hour=0.05,
        recover_per_hour=0.35,
        silence_per_hour=0.0,
        return_per_hour=0.0,
    )


# --------------------------------------------------------------------- the run


async def run_crash_test(workdir: Path, cfg: CrashConfig) -> CrashReport:
    """Run the crash test in ``workdir`` (config, database, daemon log); its report."""
    t0 = time.monotonic()
    rng = random.Random(f"crash:{cfg.seed}")
    report = CrashReport(kill_kinds=dict.fromkeys((*KILL_KINDS, IDLE), 0))
    clock = SystemClock()
    fleet = Fleet(fleet_spec(cfg), clock=clock)
    sim = KillableKandji(fleet, token=TOKEN, seed=cfg.seed, latency_ms=4.0, jitter_ms=4.0,
                         per_second=None, per_hour=None)
    receiver = Receiver(drop=cfg.drop_deliveries)
    sim_runner = web.AppRunner(make_kandji_app(sim), access_log=None,
                               handler_cancellation=True, shutdown_timeout=1.0)
    hook_app = web.Application()
    hook_app.router.add_post("/hook", receiver.handle)
    hook_runner = web.AppRunner(hook_app, access_log=None, shutdown_timeout=1.0)
    await sim_runner.setup()
    await hook_runner.setup()
    await web.TCPSite(sim_runner, "127.0.0.1", 0).start()
    await web.TCPSite(hook_runner, "127.0.0.1", 0).start()
    sim_port = sim_runner.addresses[0][1]
    hook_port = hook_runner.addresses[0][1]

    (workdir / "rules.yaml").write_text(RULES)
    db = workdir / "state" / "monitor.db"
    config = workdir / "config.yaml"
    config.write_text(CONFIG.format(
        url=f"http://127.0.0.1:{sim_port}", token=TOKEN, rules=workdir / "rules.yaml",
        hook=f"json://127.0.0.1:{hook_port}/hook", db=db,
    ))
    daemon = Daemon(config, workdir / "daemon.log")

    def kill_now() -> None:
        daemon.kill()

    sim.on_kill = kill_now
    receiver.on_kill = kill_now
    previous_need: dict[Pair, str] = {}

    async def start() -> None:
        await daemon.start(cfg.start_timeout)
        receiver.run = daemon.runs

    async def kill_once() -> None:
        kind = rng.choices(KILL_KINDS, KILL_WEIGHTS)[0]
        if not daemon.alive:
            await start()
        if kind == "timer":
            await asyncio.sleep(rng.uniform(0.0, cfg.max_kill_delay))
            daemon.kill()
        else:
            if kind == "sweep":
                sim.kill_after = rng.randint(1, cfg.devices + 1)
            else:
                receiver.armed = kind
            assert daemon.proc is not None
            try:
                await asyncio.wait_for(asyncio.shield(daemon.proc.wait()), cfg.armed_kill_timeout)
            except TimeoutError:
                kind = IDLE  # nothing to interrupt came along: kill it anyway
                daemon.kill()
            sim.kill_after = None
            receiver.armed = None
        await daemon.wait()
        report.kills += 1
        report.kill_kinds[kind] += 1

    try:
        await start()
        for _ in range(cfg.rounds):
            for _ in range(cfg.kills_per_round):
                # Some simulated churn before every kill, so there is always work in flight.
                report.fleet_changes += len(fleet.advance(3600.0 / cfg.kills_per_round))
                await kill_once()
            await start()
            # Undisturbed: the receiver must come to agree with the fleet.
            truth = failing_pairs(fleet)
            await agreement(receiver, truth, cfg.settle_timeout)
            told = receiver.view()
            need = required(truth, told)
            report.due += sum(1 for p, s in need.items() if previous_need.get(p) != s)
            missing = disagreements(truth, told)
            report.lost += len(missing)
            report.lost_detail.extend(missing)
            previous_need = need
            report.rounds += 1
        await daemon.stop()
    finally:
        daemon.kill()
        await daemon.wait()
        await hook_runner.cleanup()
        await sim_runner.cleanup()

    report.runs = daemon.runs
    report.delivered = len(receiver.received)
    seen = Counter((m.title, m.body) for m in receiver.received)
    report.unique = len(seen)
    report.duplicated = report.delivered - report.unique
    per_run = Counter((m.run, m.title, m.body) for m in receiver.received)
    report.duplicated_within_one_run = sum(n - 1 for n in per_run.values())
    # A message received again was in flight when the process that last sent it died:
    # that crash caused the copy.
    last_run: dict[tuple[str, str], int] = {}
    by_crash: Counter[int] = Counter()
    for m in receiver.received:
        key = (m.title, m.body)
        if key in last_run and m.run != last_run[key]:
            by_crash[last_run[key]] += 1
        last_run[key] = m.run
    report.most_duplicated_by_one_crash = max(by_crash.values(), default=0)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT title, body, state FROM outbox").fetchall()
    report.outbox_messages = len(rows)
    report.outbox_undelivered = sum(1 for _, _, state in rows if state != "delivered")
    report.outbox_not_received = sum(
        1 for title, body, state in rows if state == "delivered" and (title, body) not in seen
    )
    report.seconds = round(time.monotonic() - t0, 1)
    return report


def main(argv: list[str] | None = None) -> int:
    """Run the crash test and print its report as JSON; exit 1 if an invariant broke."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--kills-per-round", type=int, default=4)
    parser.add_argument("--devices", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the config, database and daemon log in this folder")
    args = parser.parse_args(argv)
    cfg = CrashConfig(rounds=args.rounds, kills_per_round=args.kills_per_round,
                      devices=args.devices, seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="crash-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        report = asyncio.run(run_crash_test(workdir, cfg))
    out = asdict(report)
    out["problems"] = report.problems()
    print(json.dumps(out, indent=2))
    return 1 if report.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
