"""The demo, running in this process, with a hand on its sweeps.

:func:`running_demo` starts what ``compliance-monitor demo`` starts (the simulated
Kandji tenant with its planted failures, the embedded demo config, the daemon with its
status page) and hands back the pieces a test needs to look at: the simulator (its
request log and fleet), the daemon, the status page URL. The daemon is a
:class:`SteppedApp`: after each sweep it waits for the test to let it go on, so a test
reads the page and /metrics between sweeps, never during one.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from monitor.app import App
from monitor.config import Config
from monitor.demo import demo_environment
from monitor.models import SweepStats
from monitor.simulator.applivery import AppliverySimulator
from monitor.simulator.kandji import KandjiSimulator

WAIT = 60.0  # seconds a test waits for the daemon before it fails


class SteppedApp(App):
    """The daemon, each source pausing after each sweep until :meth:`proceed` lets it go."""

    def __init__(self, config: Config, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        names = [s.name for s in config.sources if s.enabled]
        self.swept: dict[str, asyncio.Queue[SweepStats]] = {n: asyncio.Queue() for n in names}
        self._permits: dict[str, asyncio.Queue[None]] = {n: asyncio.Queue() for n in names}

    async def sweep_source(self, name: str) -> SweepStats:
        result = await super().sweep_source(name)
        self.swept[name].put_nowait(result)
        await self._permits[name].get()
        return result

    def proceed(self) -> None:
        """Let every paused source loop sleep its interval and sweep again."""
        for permits in self._permits.values():
            permits.put_nowait(None)

    async def next_round(self) -> dict[str, SweepStats]:
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

    async def sweep_again(self) -> dict[str, SweepStats]:
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
    async with demo_environment(
        state_dir=state_dir, devices=devices, seed=seed, web_port=0, repair_after=repair_after
    ) as demo:
        config = demo.config
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
                    app,
                    demo.simulators["kandji"],
                    demo.simulators["applivery"],
                    config,
                    f"http://127.0.0.1:{app.web_port}",
                    console,
                )
            finally:
                app.stop()
                app.proceed()  # a loop paused after its sweep must see the stop
                await asyncio.wait_for(task, WAIT)
