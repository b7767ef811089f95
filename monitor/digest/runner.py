"""Sending the configured digests on their schedules.

Each ``digests:`` entry names a receiver, a weekly schedule in a time zone, a period
and a scope. :meth:`DigestRunner.tick` sends every digest whose latest slot is later
than its last run (:func:`~monitor.notify.schedule.slot_due`) and records the run in
the store only once the receiver accepted it: a failed send is tried again at the next
tick, a restart neither skips nor repeats a digest. On a digest's first start the
runner only records the time, so a new install does not send last week's digest.

E-mail receivers get the trend chart as a PNG attachment; targets that take no
attachment get the digest's ``chart_link`` (or a note) instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol, Unpack
from zoneinfo import ZoneInfo

import structlog
from markupsafe import Markup

from monitor.clock import Clock
from monitor.config import Config, DigestConfig, DigestScopeConfig
from monitor.digest.chart import trend_png
from monitor.digest.render import digest_html, digest_text
from monitor.digest.summary import TREND_DAYS, Digest, DigestOptions, summarize
from monitor.errors import MonitorError
from monitor.leasing import LeaseKeeper
from monitor.models import Alert
from monitor.notify.labels import alert_labels
from monitor.notify.routing import Route, build_routes
from monitor.notify.schedule import WeeklySchedule, day_numbers, next_slot, parse_clock_time
from monitor.notify.schedule import slot_due as schedule_slot_due
from monitor.notify.sender import Attachment, Outgoing, Sender
from monitor.notify.templates import receiver_flavour
from monitor.patterns import compile_pattern
from monitor.sources.links import ConsoleLinks
from monitor.store.base import Store

log = structlog.get_logger(__name__)

CHART_NAME = "trend.png"
#: The longest pause of the digest loop: a schedule is checked at least this often.
MAX_PAUSE = timedelta(minutes=5)


class StopSignal(Protocol):
    """What the runner's loop needs of the daemon's stop request."""

    def is_set(self) -> bool:
        """Whether a stop was asked for."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` on the clock, or until a stop is asked for."""
        ...


def scope_filter(scope: DigestScopeConfig, root: Route) -> Callable[[Alert], bool]:
    """Which alerts a digest covers: routed to one of ``scope.receivers`` (when given)
    and matching every label of ``match``/``match_re``."""
    patterns = {k: compile_pattern(v) for k, v in scope.match_re.items()}  # RE2: linear
    receivers = frozenset(scope.receivers)

    def keep(alert: Alert) -> bool:
        labels = alert_labels(alert)
        if any(labels.get(k, "") != v for k, v in scope.match.items()):
            return False
        if any(not p.matches(labels.get(k, "")) for k, p in patterns.items()):
            return False
        return not receivers or any(r.receiver in receivers for r in root.route(labels))

    return keep


def schedule_of(digest: DigestConfig) -> WeeklySchedule:
    """The weekly schedule of a digest."""
    s = digest.schedule
    return WeeklySchedule(day_numbers(s.days), parse_clock_time(s.at), ZoneInfo(s.timezone))


async def build_digest(store: Store, now: datetime, **options: Unpack[DigestOptions]) -> Digest:
    """The digest at ``now`` from what the store holds."""
    alerts = await store.load_alerts()
    reach = max(options["period"], timedelta(days=options.get("trend_days", TREND_DAYS)))
    transitions = [e.transition for e in await store.transitions_since(now - reach)]
    return summarize(alerts, transitions, now, **options)


class DigestRunner:
    """Sends ``config.digests`` when due: ``run()`` until ``stop`` is set, or ``tick(now)``."""

    def __init__(
        self, config: Config, store: Store, sender: Sender, clock: Clock, stop: StopSignal
    ) -> None:
        self._config = config
        self._store = store
        self._sender = sender
        self._clock = clock
        self._stop = stop
        self._root = build_routes(config.route)
        #: With several instances on one store, digests are sent by the holder of the
        #: duties lease only (see monitor.leasing).
        self.leases: LeaseKeeper | None = None

    def __repr__(self) -> str:
        return f"DigestRunner(digests={[d.name for d in self._config.digests]})"

    async def render(self, digest: DigestConfig, now: datetime) -> tuple[str, str, str, bytes]:
        """Title, body, body format and chart PNG of ``digest`` at ``now``."""
        schedule = schedule_of(digest)
        data = await build_digest(
            self._store, now, period=digest.period, trend_days=digest.trend_days,
            tz=schedule.tz, keep=scope_filter(digest.scope, self._root), oldest=digest.oldest,
            title=f"Compliance digest: {digest.name}",
        )
        receiver = self._config.receiver(digest.receiver)
        png = trend_png(data.trend)
        title = f"[DIGEST] {digest.name}: {data.verdict}"
        if receiver_flavour(receiver) == "html":
            note = Markup('<p style="color: #666">The trend chart is attached '
                          "(<code>{}</code>).</p>").format(CHART_NAME)
            links = ConsoleLinks.of(self._config.sources)
            return title, digest_html(data, chart=note, links=links), "html", png
        return title, digest_text(data), "text", png

    async def send(self, digest: DigestConfig, now: datetime) -> None:
        """Render and deliver ``digest`` now (raises DeliveryError)."""
        title, body, body_format, png = await self.render(digest, now)
        receiver = self._config.receiver(digest.receiver)
        attachment = Attachment(CHART_NAME, png, link=digest.chart_link)
        await self._sender.deliver(
            receiver,
            Outgoing(
                title, body, "html" if body_format == "html" else "text",
                attachments=(attachment,),
            ),
        )

    async def tick(self, now: datetime) -> list[str]:
        """Send every digest due at ``now``; the names of those sent. With several
        instances, only the one holding the duties lease sends."""
        lease = None if self.leases is None else await self.leases.duties()
        if self.leases is not None and lease is None:
            return []
        runs = await self._store.digest_runs()
        sent = []
        for digest in self._config.digests:
            last = runs.get(digest.name)
            if last is None:
                await self._store.record_digest_run(digest.name, now, lease=lease)
                log.info("digest.scheduled", digest=digest.name)
                continue
            slot = schedule_slot_due(schedule_of(digest), last, now)
            if slot is None:
                continue
            try:
                await self.send(digest, now)
            except MonitorError as exc:
                log.warning("digest.failed", digest=digest.name, receiver=digest.receiver,
                            error=str(exc))
                continue
            await self._store.record_digest_run(digest.name, now, lease=lease)
            log.info("digest.sent", digest=digest.name, receiver=digest.receiver,
                     slot=slot.isoformat())
            sent.append(digest.name)
        return sent

    def next_due(self, now: datetime) -> datetime:
        """When to look again: the next slot of any digest, at most MAX_PAUSE away."""
        slots = [s for d in self._config.digests if (s := next_slot(schedule_of(d), now))]
        return min([now + MAX_PAUSE, *slots])

    async def run(self) -> None:
        """Tick, then sleep until the next slot (or MAX_PAUSE), until stopped; returns at
        once when no digest is configured."""
        while self._config.digests and not self._stop.is_set():
            now = self._clock.now()
            try:
                await self.tick(now)
            except MonitorError as exc:
                log.error("digest.cycle_failed", error=str(exc))
            await self._stop.sleep(max((self.next_due(now) - now).total_seconds(), 1.0))
