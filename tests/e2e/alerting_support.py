"""What the end-to-end alerting tests share: a simulated tenant, webhook receivers that
record every delivery, a config on disk, and an event loop in a thread for tests that
drive the command line (``monitor.cli.main`` runs its own loop).

Everything here is real: the simulator and the receivers are aiohttp servers on
loopback, apprise delivers over HTTP, SQLite writes to tmp_path.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import structlog
from aiohttp import web

from monitor.clock import Clock, FakeClock
from monitor.simulator.kandji import Fleet, FleetSpec, KandjiSimulator, start_kandji

T = TypeVar("T")

TOKEN = "e2e-token-5f1c9a"

RULES = """\
version: 1
rules:
  - id: test.item.failed
    source: kandji
    subject: library_item
    match:
      status: [ERROR, failed]
    severity: warning
    summary: "{{ subject.name }} is {{ subject.status }} on {{ device.name }}"
"""


@pytest.fixture
def fresh_logging() -> Iterator[None]:
    """structlog's defaults for the test, the previous configuration afterwards.

    ``monitor.cli.main`` configures logging for the whole process; a test that calls it
    without putting logging back leaves structlog writing to a stream pytest has since
    closed, and the next log line anywhere would fail.
    """
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    structlog.reset_defaults()
    try:
        yield
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)


def quiet_spec(devices: int = 8, seed: int = 11) -> FleetSpec:
    """A fleet where nothing fails, goes silent or churns until a test says so."""
    return FleetSpec(
        devices=devices,
        seed=seed,
        library_items=12,
        items_per_blueprint=8,
        parameters=0,
        item_failure_rate=0.0,
        parameter_failure_rate=0.0,
        silent_rate=0.0,
        never_checked_in_rate=0.0,
        fail_per_hour=0.0,
        recover_per_hour=0.0,
        silence_per_hour=0.0,
        return_per_hour=0.0,
    )


@dataclass(frozen=True)
class Slot:
    """One library item on one device of the simulated fleet."""

    device_id: str
    device_name: str
    item_id: str
    item_name: str


def slots(fleet: Fleet, count: int, *, per_device: int = 1) -> list[Slot]:
    """``count`` (device, non-profile item) pairs, ``per_device`` items per device."""
    out: list[Slot] = []
    for i in fleet.device_indices():
        dev = fleet.device(i)
        items = [s.item for s in fleet.device_items(i) if not s.item.is_profile]
        for item in items[:per_device]:
            out.append(Slot(dev.id, dev.name, item.id, item.name))
            if len(out) == count:
                return out
    raise AssertionError(f"the fleet has fewer than {count} items to break")


def set_status(fleet: Fleet, slot: Slot, status: str) -> None:
    """Set ``slot``'s item status (ERROR, PASS...)."""
    fleet.set_item_status(slot.device_id, slot.item_id, status)


# --------------------------------------------------------------------- receivers


@dataclass
class Delivery:
    """One message a receiver got (apprise's json:// payload)."""

    receiver: str
    title: str
    body: str
    kind: str


@dataclass
class Webhook:
    """Records every POST to ``/hook/{name}``; ``down`` names answer 503 instead."""

    base_url: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    down: set[str] = field(default_factory=set)
    refused: int = 0

    def url(self, name: str) -> str:
        """The apprise json:// URL of receiver ``name``."""
        return self.base_url.replace("http://", "json://", 1) + f"/hook/{name}"

    def of(self, name: str) -> list[Delivery]:
        """What receiver ``name`` got, in order."""
        return [d for d in self.deliveries if d.receiver == name]

    async def _receive(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name in self.down:
            self.refused += 1
            return web.Response(status=503, text="down for maintenance")
        payload: dict[str, Any] = await request.json()
        self.deliveries.append(
            Delivery(name, str(payload.get("title", "")), str(payload.get("message", "")),
                     str(payload.get("type", "")))
        )
        return web.Response(status=200)


@asynccontextmanager
async def webhook() -> AsyncIterator[Webhook]:
    """A recording webhook receiver on a free loopback port."""
    hook = Webhook()
    app = web.Application()
    app.router.add_post("/hook/{name}", hook._receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield hook
    finally:
        await runner.cleanup()


@asynccontextmanager
async def tenant(
    spec: FleetSpec | None = None, *, clock: Clock | None = None
) -> AsyncIterator[tuple[str, KandjiSimulator]]:
    """A simulated Kandji tenant (no rate limits): (base URL, simulator)."""
    runner, url, sim = await start_kandji(
        "127.0.0.1", 0, token=TOKEN, per_second=None, per_hour=None,
        spec=spec or quiet_spec(), clock=clock,
    )
    try:
        yield url, sim
    finally:
        await runner.cleanup()


# --------------------------------------------------------------------- config


def write_config(
    folder: Path,
    *,
    kandji_url: str,
    receivers: str,
    route: str,
    extra: str = "",
    rules: str = RULES,
    interval: str = "1m",
    disabled: Sequence[str] = (),
) -> Path:
    """A config file (and its rule file) in ``folder``; the database in folder/state.

    ``receivers``, ``route`` and ``extra`` are YAML blocks as they appear in the file;
    ``disabled`` lists rule ids to switch off.
    """
    (folder / "rules.yaml").write_text(rules)
    path = folder / "config.yaml"
    path.write_text(
        f"""\
sources:
  - name: acme
    kind: kandji
    url: {kandji_url}
    token: {TOKEN}
    interval: {interval}
    strategy: per_device
    budget: {{requests_per_hour: 1000000, burst_per_second: 1000, concurrency: 16}}
    retry: {{max_attempts: 2, backoff_base: 100ms, backoff_max: 200ms}}
rules:
  builtin: false
  files: [rules.yaml]
  disabled: [{", ".join(disabled)}]
{receivers}
{route}
store:
  path: state/monitor.db
web:
  enabled: false
log:
  level: warning
  format: json
{extra}"""
    )
    return path


# --------------------------------------------------------------------- waiting


async def eventually(
    condition: Callable[[], bool], *, timeout: float = 20.0, what: str = "condition"
) -> None:
    """Wait until ``condition()`` holds (checked every few milliseconds), or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.005)


async def settle(clock: FakeClock, parked: int, *, timeout: float = 20.0) -> None:
    """Wait until ``parked`` loops sleep on the fake clock and stay so for a moment,
    i.e. every step the daemon could take before time moves on has been taken."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    calm = 0
    while calm < 4:
        calm = calm + 1 if clock.sleepers == parked else 0
        if loop.time() > deadline:
            raise AssertionError(f"the daemon did not settle ({clock.sleepers} sleepers)")
        await asyncio.sleep(0.005)


async def advance_until(
    clock: FakeClock,
    condition: Callable[[], bool],
    *,
    step: float,
    parked: int,
    limit: float,
    what: str = "condition",
) -> float:
    """Move the fake clock ``step`` seconds at a time, letting the daemon settle after
    each step, until ``condition()`` holds; the fake seconds it took."""
    moved = 0.0
    await settle(clock, parked)
    while not condition():
        if moved >= limit:
            raise AssertionError(f"{what} did not happen within {limit:g} fake seconds")
        clock.advance(step)
        moved += step
        await settle(clock, parked)
    return moved


# --------------------------------------------------------------------- a loop in a thread


class LoopThread:
    """An event loop in a background thread, for servers a synchronous test talks to."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the thread's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[[], T], timeout: float = 30.0) -> T:
        """Call ``fn`` on the thread's loop (where the servers' state lives)."""

        async def wrapped() -> T:
            return fn()

        return self.run(wrapped(), timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@dataclass
class Servers:
    """A simulated tenant and a webhook, served from a background thread."""

    thread: LoopThread
    kandji_url: str
    sim: KandjiSimulator
    hook: Webhook

    def deliveries(self, name: str) -> list[Delivery]:
        """A copy of what receiver ``name`` got so far."""
        return self.thread.call(lambda: list(self.hook.of(name)))

    def on_fleet(self, fn: Callable[[Fleet], T]) -> T:
        """Run ``fn`` on the fleet, in the servers' thread."""
        return self.thread.call(lambda: fn(self.sim.fleet))


@contextmanager
def servers_in_thread(spec: FleetSpec | None = None) -> Iterator[Servers]:
    """A tenant and a webhook on loopback, served by a background thread's loop."""
    thread = LoopThread()
    thread.start()
    stack: list[Any] = []

    async def up() -> tuple[str, KandjiSimulator, Webhook]:
        t = tenant(spec)
        url, sim = await t.__aenter__()
        stack.append(t)
        w = webhook()
        hook = await w.__aenter__()
        stack.append(w)
        return url, sim, hook

    async def down() -> None:
        for cm in reversed(stack):
            await cm.__aexit__(None, None, None)

    try:
        url, sim, hook = thread.run(up())
        yield Servers(thread, url, sim, hook)
    finally:
        thread.run(down())
        thread.stop()


def names(deliveries: Sequence[Delivery]) -> list[str]:
    """The titles of ``deliveries`` (for assertion messages)."""
    return [d.title for d in deliveries]
