"""Composition root: builds every stage from the config, runs them, shuts them down.

Only this module wires stages together. One cycle of one source::

    sweeper.sweep(needs) -> engine.evaluate -> alerts.step -> store.commit_sweep -> pipeline.kick()

and, independently, the notification pipeline flushes due groups into the outbox and
delivers the outbox through apprise. The daemon also serves the status page (it is the
page's :class:`~monitor.web.provider.StatusProvider`) and keeps the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, TextIO

import structlog
from aiohttp import web

from monitor import alerts as alerts_mod
from monitor.actions import ActionRunner
from monitor.clock import Clock, SystemClock
from monitor.config import AppliverySourceConfig, Config, KandjiSourceConfig, ReceiverConfig
from monitor.engine import RuleSet, evaluate, load_rules
from monitor.errors import MonitorError, StoreError
from monitor.heartbeat import Heartbeat
from monitor.log import redact, register_secret
from monitor.metrics import Metrics, StateSnapshot, count_alerts
from monitor.models import (
    AlertState,
    FactKind,
    Finding,
    Severity,
    SourceKind,
    SubjectKind,
    SweepStats,
)
from monitor.notify.envelope import Envelope
from monitor.notify.labels import alert_labels
from monitor.notify.pipeline import NotifyPipeline
from monitor.notify.sender import Sender, default_sender
from monitor.notify.templates import RenderedMessage
from monitor.sources.applivery import AppliveryClient
from monitor.sources.budget import RequestBudget
from monitor.sources.kandji import KandjiClient
from monitor.sources.kandji_models import (
    is_known_library_item_status,
    is_known_parameter_status,
)
from monitor.store.base import OutboxState
from monitor.store.sqlite import SqliteStore
from monitor.sweep.applivery import AppliverySweeper
from monitor.sweep.base import Sweeper, SweepOutcome, SweepProgress
from monitor.sweep.per_device import KandjiPerDeviceSweeper
from monitor.sweep.planned import KandjiPlannedSweeper
from monitor.web.app import build_web_app, start_web
from monitor.web.provider import default_console_url, device_console_link
from monitor.web.view import (
    AlertView,
    DeadLetterView,
    SilenceView,
    SourceView,
    SweepView,
    matchers_text,
    readiness_reasons,
)

log = structlog.get_logger(__name__)

SOURCE_UNHEALTHY_RULE = "monitor.source.unhealthy"
HOUSEKEEPING_EVERY = timedelta(hours=1)
HISTORY_KEPT = timedelta(days=30)


@dataclass
class SourceHealth:
    """What the daemon knows of one source's recent sweeps."""

    name: str
    kind: str
    last_success: datetime | None = None
    failing_since: datetime | None = None
    consecutive_failures: int = 0
    last_error: str = ""
    history: list[SweepStats] = field(default_factory=list)


@dataclass(frozen=True)
class CycleResult:
    """The outcome of one sweep of one source, as the CLI reports it."""

    source: str
    ok: bool
    findings: int
    firing: int
    stats: SweepStats


def register_config_secrets(config: Config) -> None:
    """Tell the log redactor every secret in the config."""
    for src in config.sources:
        if src.token is not None:
            register_secret(src.token.get_secret_value())
    for rcv in config.receivers:
        for url in rcv.urls:
            register_secret(url.get_secret_value())
        if rcv.alertmanager is not None:
            register_secret(rcv.alertmanager.url.get_secret_value())
    if config.web.token is not None:
        register_secret(config.web.token.get_secret_value())
    if config.heartbeat is not None:
        register_secret(config.heartbeat.success_url())
        register_secret(config.heartbeat.failure_url())


class MeteredSender:
    """Counts deliveries per receiver around another sender."""

    def __init__(self, inner: Sender, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics

    async def send(
        self,
        receiver: ReceiverConfig,
        title: str,
        body: str,
        body_format: Literal["text", "markdown", "html"],
        envelope: Envelope | None = None,
    ) -> None:
        try:
            await self.inner.send(receiver, title, body, body_format, envelope)
        except Exception:
            self.metrics.observe_delivery(receiver.name, ok=False)
            raise
        self.metrics.observe_delivery(receiver.name, ok=True)


class App:
    """The daemon: sources swept on their intervals, alerts kept, notifications delivered."""

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
        self.store = SqliteStore(config.store.path)
        base_sender = sender or default_sender(config, console=console)
        self.pipeline = NotifyPipeline(
            config, self.store, MeteredSender(base_sender, self.metrics), self.clock
        )
        self.sweepers: dict[str, Sweeper] = {}
        self.clients: dict[str, KandjiClient | AppliveryClient] = {}
        self.budgets: dict[str, RequestBudget] = {}
        self.actions: ActionRunner | None = None
        self.dry_run = False
        self.health: dict[str, SourceHealth] = {
            s.name: SourceHealth(s.name, s.kind) for s in config.sources if s.enabled
        }
        self.progress = progress
        self.web_enabled = config.web.enabled if web_enabled is None else web_enabled
        self.web_port: int | None = None
        self._web_runner: web.AppRunner | None = None
        self._state = StateSnapshot()
        self._stopping = asyncio.Event()
        self.heartbeat = Heartbeat(config.heartbeat) if config.heartbeat is not None else None
        for s in config.sources:
            self.metrics.declare_source(s.name, budget_per_hour=s.budget.requests_per_hour)
        for r in config.receivers:
            self.metrics.declare_receiver(r.name)
        self.metrics.set_state_callback(lambda: self._state)

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Open the store, the HTTP sessions and the status page."""
        await self.store.open()
        for src in self.config.sources:
            if src.enabled:
                sweeper = self._build_sweeper(src)
                sweeper.progress = self.progress
                self.sweepers[src.name] = sweeper
        self.actions = ActionRunner(self.config.actions, self.store, self.clients, self.clock)
        await self.actions.restore(await self.store.load_alerts(None))
        await self._refresh_state()
        if self.web_enabled:
            webapp = build_web_app(
                self, self.metrics, token=self.config.web.token, clock=self.clock
            )
            self._web_runner, self.web_port = await start_web(
                webapp, self.config.web.host, self.config.web.port
            )
            log.info("status page", url=f"http://{self.config.web.host}:{self.web_port}/")

    def _build_sweeper(self, src: KandjiSourceConfig | AppliverySourceConfig) -> Sweeper:
        token = src.resolve_token()
        register_secret(token.get_secret_value())
        # One budget per tenant: sources naming the same tenant share it, so every task
        # of the tenant (sweeps, actions) spends from one hourly window.
        budget = next(
            (
                self.budgets[other.name]
                for other in self.config.sources
                if other.name in self.budgets
                and other.kind == src.kind
                and other.url == src.url
                and getattr(other, "organization", None) == getattr(src, "organization", None)
            ),
            None,
        ) or RequestBudget(src.budget, self.clock)
        self.budgets[src.name] = budget
        if isinstance(src, KandjiSourceConfig):
            client = KandjiClient(
                src,
                clock=self.clock,
                token=token,
                budget=budget,
                on_request=self.metrics.observe_request,
            )
            self.clients[src.name] = client
            if src.strategy == "per_device":
                return KandjiPerDeviceSweeper(client, src.name)
            # Keep only the subjects an enabled rule could match (the engine's
            # status/type index): findings are the same, memory is a small fraction.
            plans = {plan.kind: plan for plan in self.rules.plan(SourceKind.KANDJI)}

            def may_match(kind: SubjectKind, status: str, type_: str) -> bool:
                if not status_is_known(kind, status):
                    return True  # kept so that its alerts are held, not resolved
                plan = plans.get(kind)
                return plan is not None and bool(plan.candidates(status, type_))

            return KandjiPlannedSweeper(client, src.name, keep=may_match)
        aclient = AppliveryClient(
            src,
            clock=self.clock,
            token=token,
            budget=budget,
            on_request=self.metrics.observe_request,
        )
        return AppliverySweeper(aclient, src.name)

    async def close(self) -> None:
        """Close the status page, the HTTP sessions and the store."""
        if self._web_runner is not None:
            await self._web_runner.cleanup()
            self._web_runner = None
        for sw in self.sweepers.values():
            with contextlib.suppress(Exception):
                await sw.close()
        if self.heartbeat is not None:
            await self.heartbeat.close()
        await self.store.close()

    async def __aenter__(self) -> App:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def stop(self) -> None:
        """Ask the daemon to finish its current step and shut down."""
        self._stopping.set()

    # ------------------------------------------------------------------ one cycle

    def _rule_facts(self, kind: SourceKind) -> Callable[[str], Collection[FactKind]]:
        def facts(rule_id: str) -> Collection[FactKind]:
            return self.rules.facts_of(rule_id, kind) if rule_id in self.rules else ()

        return facts

    async def sweep_source(self, name: str) -> CycleResult:
        """Sweep one source once and commit what it saw (alerts, transitions, history)."""
        sweeper = self.sweepers[name]
        src = self.config.source(name)
        kind = SourceKind(src.kind)
        health = self.health[name]
        started = self.clock.now()
        t0 = self.clock.monotonic()
        needs = self.rules.needs(kind)
        if self.progress is not None:
            self.progress.sweep_started(name)
        try:
            outcome = await sweeper.sweep(needs)
        except MonitorError as exc:  # sweepers report failures in their outcome; belt and braces
            outcome = SweepOutcome(source=name, ok=False, errors=[str(exc)])
        now = self.clock.now()
        finished = started + timedelta(seconds=self.clock.monotonic() - t0)
        findings = evaluate(self.rules, outcome.facts(), now)
        self._track_health(health, outcome, finished)
        findings.extend(self._source_findings(health, kind, now))
        if self.actions is not None:
            # A failed remediation is an alert of its own, raised on the next sweep.
            findings.extend(self.actions.failure_findings(name))
        held = _unknown_status_subjects(outcome)
        if held:
            # A status the API does not document is not evidence of recovery.
            log.warning(
                "undocumented status values; alerts on these subjects are held",
                source=name,
                subjects=len(held),
            )
        previous = await self.store.load_alerts(name)
        evaluated = [r.id for r in self.rules.enabled if r.applies_to(kind)]
        known = await self.store.known_rules(name)
        step = alerts_mod.step(
            previous,
            findings,
            outcome.coverage,
            now,
            evaluated_rules=evaluated,
            baseline=alerts_mod.baseline_rules(self.config.notify.first_start, evaluated, known),
            inhibit=self.config.inhibit,
            device_last_check_in={d.device_id: d.last_check_in for d in outcome.devices.values()},
            rule_facts=self._rule_facts(kind),
            held=held,
        )
        budget = self.budgets.get(name)
        stats = SweepStats(
            source=name,
            started_at=started,
            finished_at=finished,
            ok=outcome.ok,
            devices=len(outcome.devices),
            requests=outcome.requests,
            errors=len(outcome.errors),
            findings=len(findings),
            error=outcome.errors[0] if outcome.errors else "",
            budget_remaining=None if budget is None else float(budget.remaining),
        )
        await self.store.commit_sweep(stats, step)
        if self.actions is not None:
            results = await self.actions.run(
                step.transitions,
                {r.id: r for r in self.rules.rules},
                outcome.devices,
                dry_run=self.dry_run,
                firing=step.alerts.values(),
            )
            for r in results:
                self.metrics.observe_action(r.request.action, str(r.status))
        health.history = [*health.history[-49:], stats]
        self.metrics.observe_sweep(
            name,
            stats.ok,
            stats.duration_s,
            stats.budget_remaining,
            at=stats.finished_at if stats.ok else None,
        )
        if self.progress is not None:
            self.progress.sweep_finished(name, ok=stats.ok, devices=stats.devices)
        await self._refresh_state()
        self.pipeline.kick()
        self._beat(name, stats, step.firing)
        log.info(
            "sweep",
            source=name,
            ok=stats.ok,
            devices=stats.devices,
            requests=stats.requests,
            errors=stats.errors,
            findings=stats.findings,
            firing=step.firing,
            transitions=len(step.transitions),
            budget_remaining=stats.budget_remaining,
            duration_s=round(stats.duration_s, 3),
        )
        return CycleResult(name, stats.ok, len(findings), step.firing, stats)

    def _beat(self, name: str, stats: SweepStats, firing: int) -> None:
        """Ping the dead-man's switch: healthy when this sweep and every source are fine."""
        if self.heartbeat is None or self.dry_run:
            return
        failing = sorted(h.name for h in self.health.values() if h.consecutive_failures)
        if failing:
            summary = f"sweep of {name} {'ok' if stats.ok else 'failed'}; failing: " + (
                ", ".join(failing)
            )
        else:
            summary = f"sweep of {name} ok: {stats.devices} devices, {firing} alerts firing"
        self.heartbeat.report(stats.ok and not failing, summary)

    def _track_health(self, health: SourceHealth, outcome: SweepOutcome, at: datetime) -> None:
        """Log failure and recovery once each, not every sweep."""
        if outcome.ok:
            if health.consecutive_failures:
                log.info(
                    "source recovered",
                    source=health.name,
                    failed_sweeps=health.consecutive_failures,
                )
            health.consecutive_failures = 0
            health.failing_since = None
            health.last_success = at
            health.last_error = ""
            return
        error = outcome.errors[0] if outcome.errors else "sweep incomplete"
        if not health.consecutive_failures:
            log.warning(
                "source failing", source=health.name, error=error, errors=len(outcome.errors)
            )
            health.failing_since = at
        health.consecutive_failures += 1
        health.last_error = error

    def _source_findings(
        self, health: SourceHealth, kind: SourceKind, now: datetime
    ) -> list[Finding]:
        """A source failing for longer than ``unhealthy_after`` is itself an alert."""
        if health.failing_since is None:
            return []
        threshold = self.config.source(health.name).unhealthy_after
        if now - health.failing_since < threshold:
            return []
        return [
            Finding(
                rule_id=SOURCE_UNHEALTHY_RULE,
                source=health.name,
                source_kind=kind,
                device_id="",
                device_name=health.name,
                device_serial="",
                subject_kind=SubjectKind.SOURCE,
                subject_id=health.name,
                subject_name=f"{kind.value} source {health.name}",
                subject_status="unhealthy",
                severity=Severity.CRITICAL,
                summary=(
                    f"{health.name} has not been swept successfully for "
                    f"{_short(now - health.failing_since)}: {health.last_error}"
                ),
                labels={
                    "rule_id": SOURCE_UNHEALTHY_RULE,
                    "severity": "critical",
                    "source": health.name,
                    "source_kind": kind.value,
                    "subject_kind": SubjectKind.SOURCE.value,
                },
            )
        ]

    async def _refresh_state(self) -> None:
        """Recompute what /metrics reports about alerts and the outbox (read at scrape)."""
        alerts = await self.store.load_alerts(None)
        counts = await self.store.outbox_counts()
        self._state = StateSnapshot(
            count_alerts(alerts.values()),
            counts.get(OutboxState.PENDING, 0),
            dead_letters=counts.get(OutboxState.DEAD, 0),
        )

    # ------------------------------------------------------------------ modes

    async def run_once(self, *, dry_run: bool = False) -> tuple[list[CycleResult], int]:
        """Sweep every source once, deliver (unless ``dry_run``), return (results, firing)."""
        if dry_run:
            results, firing, _ = await self.preview_once()
            return results, firing
        results = list(await asyncio.gather(*(self.sweep_source(n) for n in self.sweepers)))
        await self.pipeline.flush(self.clock.now(), ignore_wait=True)
        await self.pipeline.drain(self.config.shutdown_grace.total_seconds())
        await self._refresh_state()
        return results, await self.firing_count()

    async def preview_once(self) -> tuple[list[CycleResult], int, list[RenderedMessage]]:
        """Sweep every source once and render what would be sent, on a scratch copy of
        the store: nothing is sent, no action is taken, the database is left as it was."""
        self.dry_run = True
        async with self.store.scratch():
            results = [await self.sweep_source(n) for n in self.sweepers]
            messages = await self.pipeline.preview(self.clock.now())
            firing = await self.firing_count()
        await self._refresh_state()
        return results, firing, messages

    async def firing_count(self) -> int:
        """How many alerts are firing across every source."""
        alerts = await self.store.load_alerts(None)
        return sum(1 for a in alerts.values() if a.state is AlertState.FIRING)

    async def _source_loop(self, name: str) -> None:
        interval = self.config.source(name).interval.total_seconds()
        while not self._stopping.is_set():
            try:
                await self.sweep_source(name)
            except MonitorError as exc:
                log.error("sweep aborted", source=name, error=str(exc))
            await self._sleep_or_stop(interval)

    async def _housekeeping_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                removed = await self.store.prune(self.clock.now() - HISTORY_KEPT)
                await self._refresh_state()
                if any(removed.values()):
                    log.info("pruned history", **removed)
            except StoreError as exc:
                log.error("housekeeping failed", error=str(exc))
            await self._sleep_or_stop(HOUSEKEEPING_EVERY.total_seconds())

    async def _sleep_or_stop(self, seconds: float) -> None:
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()

    async def run(self) -> None:
        """Run until :meth:`stop`: sweep every source on its interval, deliver notifications."""
        loops = [
            asyncio.create_task(self._source_loop(n), name=f"sweep:{n}") for n in self.sweepers
        ]
        chores = asyncio.create_task(self._housekeeping_loop(), name="housekeeping")
        notifier = asyncio.create_task(self.pipeline.run(), name="notify")
        log.info("started", sources=list(self.sweepers), rules=len(self.rules.enabled))
        try:
            await self._stopping.wait()
        finally:
            # Finish the current sweep step, then deliver what is due, within the grace period.
            grace = self.config.shutdown_grace.total_seconds()
            if loops:
                _, pending = await asyncio.wait(loops, timeout=grace / 2)
                for t in pending:
                    t.cancel()
            chores.cancel()
            self.pipeline.stop()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(notifier, timeout=grace / 4)
            with contextlib.suppress(TimeoutError, MonitorError):
                await asyncio.wait_for(self.pipeline.drain(grace / 4), timeout=grace / 4)
            notifier.cancel()
            await asyncio.gather(*loops, chores, notifier, return_exceptions=True)
            log.info("stopped")

    # ------------------------------------------------------------------ StatusProvider

    def _console_url(self, source: str) -> str | None:
        try:
            src = self.config.source(source)
        except KeyError:
            return None
        return src.console_url or default_console_url(
            src.kind, src.url, getattr(src, "organization", None)
        )

    async def alerts(self) -> list[AlertView]:
        """Every alert, with whether it is muted and a link to the device's console page."""
        now = self.clock.now()
        stored = await self.store.load_alerts(None)
        silencer = await self.pipeline.silencer(now)
        inhibited = alerts_mod.inhibited_fingerprints(stored.values())
        views = []
        for a in stored.values():
            f = a.finding
            link = (
                device_console_link(f.source_kind, self._console_url(f.source), f.device_id)
                if f.device_id
                else None
            )
            silenced = silencer.silenced_by(alert_labels(a), now) is not None
            views.append(
                AlertView.from_alert(
                    a,
                    silenced=silenced,
                    inhibited=a.fingerprint in inhibited,
                    console_link=link,
                )
            )
        return views

    async def sources(self) -> list[SourceView]:
        """Each source's health, recent sweeps and remaining budget."""
        views = []
        for name, h in self.health.items():
            src = self.config.source(name)
            budget = self.budgets.get(name)
            views.append(
                SourceView(
                    name=name,
                    kind=SourceKind(src.kind),
                    healthy=h.consecutive_failures == 0 and h.last_success is not None,
                    last_success=h.last_success,
                    consecutive_failures=h.consecutive_failures,
                    last_error=h.last_error,
                    budget_remaining=None if budget is None else float(budget.remaining),
                    budget_per_hour=src.budget.requests_per_hour,
                    sweeps=tuple(SweepView.from_stats(s) for s in h.history[-20:]),
                )
            )
        return views

    async def silences(self) -> list[SilenceView]:
        """The config's silences and those added at run time."""
        now = self.clock.now()
        out = []
        for i, s in enumerate(self.config.silences):
            from monitor.notify.silences import from_config

            sil = from_config(s, i)
            out.append(
                SilenceView(
                    id=sil.id,
                    matchers=matchers_text((m.name, m.op, m.value) for m in sil.matchers),
                    starts_at=sil.starts_at,
                    ends_at=sil.ends_at,
                    comment=sil.comment,
                    author=sil.author,
                    active=sil.active(now),
                )
            )
        for rec in await self.store.silences(now, include_expired=False):
            out.append(
                SilenceView(
                    id=str(rec.id),
                    matchers=matchers_text((m.name, m.op, m.value) for m in rec.matchers),
                    starts_at=rec.starts_at,
                    ends_at=rec.ends_at,
                    comment=rec.comment,
                    author=rec.author,
                    active=rec.starts_at <= now < rec.ends_at,
                )
            )
        return out

    async def dead_letters(self) -> list[DeadLetterView]:
        """Notifications given up on, newest first, as the status page shows them."""
        return [
            DeadLetterView(
                id=m.id,
                receiver=m.receiver,
                group_title=m.title,
                group_key=m.group_key,
                reason=m.reason.value,
                attempts=m.attempts,
                last_error=redact(m.last_error),
                created_at=m.created_at,
                failed_at=m.next_attempt_at,  # a dead letter's next_attempt_at is when it died
            )
            for m in await self.store.dead_letters()
        ]

    async def ready(self) -> tuple[bool, list[str]]:
        """Ready when the store answers and every source swept recently."""
        reasons = readiness_reasons(
            await self.sources(),
            {s.name: s.interval for s in self.config.sources if s.enabled},
            self.clock.now(),
        )
        try:
            await self.store.outbox_counts()
        except StoreError:
            reasons.append("store: not reachable")
        return not reasons, reasons


def status_is_known(kind: SubjectKind, status: str) -> bool:
    """Whether Kandji documents ``status`` for subjects of ``kind``."""
    if kind is SubjectKind.LIBRARY_ITEM:
        return is_known_library_item_status(status)
    if kind is SubjectKind.PARAMETER:
        return is_known_parameter_status(status)
    return True


def _unknown_status_subjects(outcome: SweepOutcome) -> frozenset[tuple[str, str, str]]:
    """(device, subject kind, subject id) of every subject reporting an undocumented status."""
    return frozenset(
        (device_id, subject.kind.value, subject.id)
        for device_id, by_kind in outcome.subjects.items()
        for subjects in by_kind.values()
        for subject in subjects
        if subject.attrs.get("status_known") is False
    )


def _short(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
