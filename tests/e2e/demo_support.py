"""The demo, running in this process, with a hand on its sweeps.

:func:`running_demo` starts what ``compliance-monitor demo`` starts (the simulated
Kandji tenant with its planted failures, the embedded demo config, the daemon with its
status page) and hands back the pieces a test needs to look at: the simulator (its
request log and fleet), the daemon, the status page URL. The daemon is a
:class:`SteppedApp`: after each sweep it waits for the test to let it go on, so a test
reads the page and /metrics between sweeps, never during one.

Headless Chromium is found and run here too, with the skip/fail policy of
``tests/web/test_browser.py``: skipped only when Chromium is missing and ``CI`` is unset.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import secrets
import shutil
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.app import App, CycleResult
from monitor.config import Config
from monitor.demo import demo_config
from monitor.simulator.applivery import AppliverySimulator, start_applivery
from monitor.simulator.kandji import KandjiSimulator
from monitor.simulator.server import start_kandji

WAIT = 60.0  # seconds a test waits for the daemon before it fails
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"


class SteppedApp(App):
    """The daemon, each source pausing after each sweep until :meth:`proceed` lets it go."""

    def __init__(self, config: Config, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        names = [s.name for s in config.sources if s.enabled]
        self.swept: dict[str, asyncio.Queue[CycleResult]] = {n: asyncio.Queue() for n in names}
        self._permits: dict[str, asyncio.Queue[None]] = {n: asyncio.Queue() for n in names}

    async def sweep_source(self, name: str) -> CycleResult:
        result = await super().sweep_source(name)
        self.swept[name].put_nowait(result)
        await self._permits[name].get()
        return result

    def proceed(self) -> None:
        """Let every paused source loop sleep its interval and sweep again."""
        for permits in self._permits.values():
            permits.put_nowait(None)

    async def next_round(self) -> dict[str, CycleResult]:
        """Wait (bounded) for the next committed sweep of every source."""
        names = list(self.swept)
        results = await asyncio.wait_for(
            asyncio.gather(*(self.swept[n].get() for n in names)), WAIT
        )
        return dict(zip(names, results, strict=True))


@dataclass
class RunningDemo:
    """A demo in progress: the daemon, the simulators and the status page's address."""

    app: SteppedApp
    kandji: KandjiSimulator
    applivery: AppliverySimulator
    config: Config
    url: str
    console: io.StringIO

    async def sweep_again(self) -> dict[str, CycleResult]:
        """Release the daemon and wait until every source has been swept once more.

        Between the return and the next call no sweep runs: /metrics, the store and the
        simulators' request logs hold still.
        """
        self.app.proceed()
        return await self.app.next_round()


@asynccontextmanager
async def running_demo(
    state_dir: Path,
    *,
    devices: int = 40,
    seed: int = 7,
    interval: timedelta | None = None,
    repair_after: float = 3600.0,
    rule_files: list[Path] | None = None,
) -> AsyncIterator[RunningDemo]:
    """What ``compliance-monitor demo`` runs, stopped on exit; every source swept once.

    As :func:`monitor.demo.run_demo`: a Kandji tenant with planted failures, an Applivery
    organization, the embedded demo config, the daemon with its status page on a free
    port. ``interval`` replaces the demo's sweep interval (the pause between sweeps once
    released); ``repair_after`` is when the Kandji simulator repairs its planted failures
    (by default not during a test, which repairs by hand when it wants to);
    ``rule_files`` are loaded besides the built-in rules.
    """
    token = secrets.token_urlsafe(24)
    runner, base_url, kandji = await start_kandji(
        "127.0.0.1",
        0,
        devices=devices,
        seed=seed,
        token=token,
        demo=True,
        demo_repair_after=repair_after,
        evolve_every=None,
    )
    win_runner, win_url, applivery = await start_applivery(
        "127.0.0.1",
        0,
        devices=max(4, devices // 3),
        seed=seed,
        token=token,
        organization="demo-org",
    )
    try:
        config = demo_config(base_url, win_url, token, state_dir, 0)
        if interval is not None:
            sources = [s.model_copy(update={"interval": interval}) for s in config.sources]
            config = config.model_copy(update={"sources": sources})
        if rule_files:
            rules = config.rules.model_copy(update={"files": [*config.rules.files, *rule_files]})
            config = config.model_copy(update={"rules": rules})
        console = io.StringIO()
        app = SteppedApp(config, console=console)
        async with app:
            task = asyncio.create_task(app.run())
            try:
                await app.next_round()
                assert app.web_port is not None
                yield RunningDemo(
                    app, kandji, applivery, config, f"http://127.0.0.1:{app.web_port}", console
                )
            finally:
                app.stop()
                app.proceed()  # a loop paused after its sweep must see the stop
                await asyncio.wait_for(task, WAIT)
    finally:
        await runner.cleanup()
        await win_runner.cleanup()


# --------------------------------------------------------------------------- Chromium


def find_chromium() -> str | None:
    """Debian's chromium, if installed."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


CHROMIUM = find_chromium()

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="Chromium is not installed (apt-get install chromium); under CI this test runs",
)


async def run_chromium(profile: Path, *args: str) -> bytes:
    """Run headless Chromium once (without blocking the event loop); its stdout."""
    if CHROMIUM is None:
        pytest.fail("Chromium is required under CI: install it (apt-get install -y chromium)")
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=120)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        pytest.fail("Chromium did not finish within 120s")
    assert proc.returncode == 0, stderr.decode(errors="replace")[-2000:]
    return stdout


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height
