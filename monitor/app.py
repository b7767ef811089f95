"""Composition root: builds every part from the config, opens them, closes them in reverse.

The parts, each in its own module::

    cycle.SweepCycle     one sweep's path: outcome -> evaluate -> alerts.step -> commit -> notify
    daemon.Daemon        one coordinator per source (cadence, jitter), housekeeping, shutdown
    health.HealthBook    each source's health, rebuilt from the store on start
    status.Status        the status provider (status page, JSON API, /readyz)
    notify               planning (route, group, decide, render) and outbox delivery
    digest.DigestRunner  the configured digests, on their schedules

:class:`App` also offers the two one-shot modes (``once``, ``once --dry-run``) and the
few entry points tests, benches and commands use instead of reaching into the parts.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TextIO

import structlog
from aiohttp import web

from monitor.actions import ActionRunner
from monitor.clock import Clock, SystemClock
from monitor.config import Config
from monitor.cycle import SweepCycle
from monitor.daemon import Daemon, SourceCoordinator, Stopper, prune_history
from monitor.digest.runner import DigestRunner
from monitor.engine import RuleSet, load_rules
from monitor.health import HealthBook, StoreHistory
from monitor.heartbeat import Heartbeat
from monitor.leasing import LeaseKeeper, default_instance_name
from monitor.metrics import Metrics, StateSnapshot
from monitor.models import SweepStats
from monitor.notify.pipeline import DeliveryStats, NotifyPipeline
from monitor.notify.sender import MeteredSender, Sender, default_sender
from monitor.notify.templates import RenderedMessage
from monitor.redaction import register_config_secrets
from monitor.sources.base import Sweeper, SweepProgress
from monitor.sources.budget import RequestBudget
from monitor.sources.build import build_sweeper
from monitor.status import Status
from monitor.store import open_store
from monitor.store.base import OutboxMessage
from monitor.web.app import serve

log = structlog.get_logger(__name__)


class App:
    """The daemon's parts, built from the config; see the module docstring."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        sender: Sender | None = None,
        console: TextIO | None = None,
        metrics: Metrics | None = None,
        web_enabled: bool | None = None,
        progress: SweepProgress | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        register_config_secrets(config)
        self.rules: RuleSet = load_rules(
            config.rules.files, builtin=config.rules.builtin, disabled=config.rules.disabled
        )
        self.metrics = metrics or Metrics()
        self._store = open_store(config.store)
        self.leases = LeaseKeeper(  # which sources this instance sweeps (see leasing.py)
            self._store, config.store.instance or default_instance_name(),
            [s.name for s in config.sources if s.enabled], config.store.lease_ttl,
            self.clock, on_change=self.metrics.observe_lease,
        )
        inner = sender or default_sender(config, console=console)
        self._notify = NotifyPipeline(
            config, self._store, MeteredSender(inner, self.metrics.observe_delivery), self.clock,
            leases=self.leases,
        )
        self._sweepers: dict[str, Sweeper] = {}
        self._budgets: dict[str, RequestBudget] = {}
        self._health = HealthBook((s.name, s.kind) for s in config.sources if s.enabled)
        self.status = Status(config, self._store, self._health, self.clock,
                             budgets=self._budgets, leases=self.leases)
        self._cycle = SweepCycle(
            config, self.rules, self._store, self.clock, self._health, self.metrics,
            self._sweepers, self._budgets, on_step=self._notify.kick, progress=progress,
            heartbeat=Heartbeat(config.heartbeat) if config.heartbeat is not None else None,
            leases=self.leases, on_lease_taken=lambda _: self._notify.planner.reload(),
        )
        self._stopper = Stopper(self.clock)
        self.digests = DigestRunner(config, self._store, inner, self.clock, self._stopper)
        self.digests.leases = self.leases
        self.web_enabled = config.web.enabled if web_enabled is None else web_enabled
        self.web_port: int | None = None
        self._web_runner: web.AppRunner | None = None
        self._state = StateSnapshot()
        self.metrics.declare({s.name: s.budget.requests_per_hour for s in config.sources},
                             [r.name for r in config.receivers])
        self.metrics.set_state_callback(lambda: self._state, now=self.clock.now)

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Open the store, the sources' HTTP sessions, the actions and the status page."""
        await self._store.open()
        await self._health.restore(StoreHistory(self._store))
        clients = {}
        for src in self.config.sources:
            if src.enabled:
                built = build_sweeper(
                    src, self.config, self.rules, self.clock, self._budgets,
                    on_request=self.metrics.observe_request, ledger=self._store,
                )
                built.sweeper.progress = self._cycle.progress
                self._sweepers[src.name] = built.sweeper
                clients[src.name] = built.client
        self._cycle.actions = ActionRunner(self.config.actions, self._store, clients, self.clock)
        await self._cycle.actions.restore(await self._store.load_alerts(None))
        await self._refresh_metrics()
        if self.web_enabled:
            self._web_runner, self.web_port = await serve(
                self.status, self.metrics, self.config.web, self.clock
            )

    async def close(self) -> None:
        """Close the status page, the HTTP sessions and the store (the reverse of open)."""
        if self._web_runner is not None:
            await self._web_runner.cleanup()
            self._web_runner = None
        for sw in self._sweepers.values():
            with contextlib.suppress(Exception):
                await sw.close()
        if self._cycle.heartbeat is not None:
            await self._cycle.heartbeat.close()
        await self._store.close()

    async def __aenter__(self) -> App:
        try:
            await self.open()
        except BaseException:
            # Whatever did open (the store's thread, sessions) must not outlive a failed
            # start: a thread left running would keep the process alive, silent.
            with contextlib.suppress(Exception):
                await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ modes

    async def sweep_source(self, name: str) -> SweepStats:
        """Sweep one source once and commit what it saw (alerts, transitions, history)."""
        stats = await self._cycle.run(name)
        await self._refresh_metrics()
        return stats

    async def run(self) -> None:
        """Run until :meth:`stop`: sweep every source on its cadence, deliver notifications."""
        coordinators = [
            SourceCoordinator(
                name, self.config.source(name).interval, self.sweep_source, self.clock,
                self._stopper, leases=self.leases, cadence=self._cycle.cadence,
            )
            for name in self._sweepers
        ]
        daemon = Daemon(
            coordinators, self._notify, self._housekeeping, self._stopper,
            grace=self.config.shutdown_grace, leases=self.leases,
        )
        log.info("rules", enabled=len(self.rules.enabled), instance=self.leases.owner)
        await asyncio.gather(daemon.run(), self.digests.run())
        await self._notify.delivery.release_claims()

    def stop(self) -> None:
        """Ask the daemon to finish its current step and shut down."""
        self._stopper.set()

    async def run_once(self, *, dry_run: bool = False) -> tuple[list[SweepStats], int]:
        """Sweep every source once, deliver (unless ``dry_run``), return (sweeps, firing)."""
        if dry_run:
            results, firing, _ = await self.preview_once()
            return results, firing
        mine = await self.leases.take_share(self._sweepers)
        results = list(await asyncio.gather(*(self.sweep_source(n) for n in mine)))
        await self._notify.flush(self.clock.now(), ignore_wait=True)
        await self._notify.drain(self.config.shutdown_grace.total_seconds())
        await self.leases.release_all()
        await self._refresh_metrics()
        return results, await self.status.firing_count()

    async def preview_once(self) -> tuple[list[SweepStats], int, list[RenderedMessage]]:
        """Sweep every source once and render what would be sent, on a scratch copy of
        the store: nothing is sent, no action is taken, the database is left as it was."""
        self._cycle.dry_run = True
        async with self._store.scratch():
            results = [await self.sweep_source(n)
                       for n in await self.leases.take_share(self._sweepers)]
            messages = await self._notify.preview(self.clock.now())
            firing = await self.status.firing_count()
        self._notify.planner.reload()  # what it holds came from the scratch copy
        await self._refresh_metrics()
        return results, firing, messages

    # ------------------------------------------------------------------ notifications

    async def flush_notifications(self, *, ignore_wait: bool = False) -> list[OutboxMessage]:
        """Queue what the groups due now have to say (all of them with ``ignore_wait``)."""
        return await self._notify.flush(self.clock.now(), ignore_wait=ignore_wait)

    async def deliver_notifications(self, timeout: float | None = None) -> DeliveryStats:
        """Deliver what is due now (for at most ``timeout`` seconds when given)."""
        if timeout is None:
            return await self._notify.deliver_due()
        return await self._notify.drain(timeout)

    @property
    def delivery_totals(self) -> DeliveryStats:
        """What delivery has done since start (``failed`` counts failed attempts)."""
        return self._notify.delivery.totals

    async def preview_notifications(self) -> list[RenderedMessage]:
        """What flushing every group now would queue, without writing anything."""
        return await self._notify.preview(self.clock.now())

    async def test_notify(self, receiver: str) -> RenderedMessage:
        """Send a sample message to ``receiver`` directly (no outbox)."""
        return await self._notify.test_notify(receiver)

    @property
    def heartbeat(self) -> Heartbeat | None:
        """The dead-man's switch, when configured."""
        return self._cycle.heartbeat

    def budget(self, source: str) -> RequestBudget:
        """The request budget ``source`` spends from (shared by the sources of a tenant)."""
        return self._budgets[source]

    async def _housekeeping(self) -> None:
        await prune_history(self._store, self.leases, self.clock.now())
        await self._refresh_metrics()

    async def _refresh_metrics(self) -> None:  # what /metrics reads at scrape time
        self._state = await self.status.state_snapshot()
