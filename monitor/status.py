"""The one status provider: what the status page, the JSON API, /readyz and the
``status`` command show, read from the store and the sources' health.

:class:`Status` implements :class:`~monitor.web.provider.StatusProvider` for the running
daemon and answers the ``status`` command from the same code (:func:`open_status` opens
the store as the daemon does and rebuilds each source's health from it), so "silenced",
"inhibited" and "last success" mean the same thing in both places. Alerts are
classified once (:func:`classify`); silences in force come from
:class:`~monitor.notify.silences.SilencesInForce`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime

from monitor.alerts import inhibited_fingerprints
from monitor.clock import Clock
from monitor.config import Config
from monitor.digest.trend import TrendCache
from monitor.errors import StoreError
from monitor.health import HealthBook, SourceHealth, StoreHistory
from monitor.leasing import LeaseKeeper
from monitor.log import redact
from monitor.metrics import StateSnapshot, count_alerts, firing_starts
from monitor.models import Alert, AlertState, SourceKind
from monitor.notify.labels import alert_labels
from monitor.notify.silences import Silence, Silencer, SilencesInForce
from monitor.sources import registry
from monitor.sources.budget import RequestBudget
from monitor.store import open_store
from monitor.store.base import Lease, NotificationLogEntry, OutboxMessage, OutboxState, Store
from monitor.web.provider import device_link
from monitor.web.view import (
    AlertView,
    DeadLetterView,
    SilenceView,
    SourceView,
    SweepView,
    matchers_text,
    readiness_reasons,
)

STATUS_ORDER = ("firing", "pending", "silenced", "inhibited", "resolved")
#: Sweeps of each source shown on the status page.
SWEEPS_SHOWN = 20


@dataclass(frozen=True, slots=True)
class StatusRow:
    """One alert as an operator sees it.

    ``status``: ``firing``, ``pending``, ``silenced`` (a silence matches it),
    ``inhibited`` (muted because its device stopped checking in or left the MDM) or
    ``resolved``. ``since``: when it entered that state. ``inhibited`` is kept apart
    from ``status`` since an alert may be both silenced and inhibited.
    """

    alert: Alert
    status: str
    since: datetime
    silenced_by: str | None = None
    inhibited: bool = False

    @property
    def sort_key(self) -> tuple[int, str, str, str]:
        f = self.alert.finding
        return (
            STATUS_ORDER.index(self.status),
            f.device_name.casefold(),
            f.device_serial,
            f.subject_name.casefold(),
        )


def classify(alerts: Iterable[Alert], silencer: Silencer, now: datetime) -> list[StatusRow]:
    """Each alert with the status an operator cares about (see :class:`StatusRow`)."""
    pool = list(alerts)
    inhibited = inhibited_fingerprints(pool)
    rows = []
    for a in pool:
        silence = silencer.silenced_by(alert_labels(a), now)
        is_inhibited = a.fingerprint in inhibited
        if a.state is AlertState.RESOLVED:
            status, since = "resolved", a.resolved_at or a.last_seen
        elif silence is not None:
            status, since = "silenced", a.firing_since or a.active_since
        elif is_inhibited:
            status, since = "inhibited", a.firing_since or a.active_since
        elif a.state is AlertState.FIRING:
            status, since = "firing", a.firing_since or a.active_since
        else:
            status, since = "pending", a.active_since
        silenced_by = None if silence is None else silence.id
        rows.append(StatusRow(a, status, since, silenced_by, is_inhibited))
    return rows


class Status:
    """The status provider (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        store: Store,
        health: HealthBook,
        clock: Clock,
        *,
        budgets: Mapping[str, RequestBudget] | None = None,
        leases: LeaseKeeper | None = None,
    ) -> None:
        self._config = config
        self._leases = leases
        self._store = store
        self._health = health
        self._clock = clock
        self._budgets = budgets if budgets is not None else {}
        self.silences_in_force = SilencesInForce(config.silences, store)
        self._trend = TrendCache(store)

    # ------------------------------------------------------------------ plain reads

    async def stored_alerts(self, source: str | None = None) -> dict[str, Alert]:
        """Every stored alert (of one source when given), by fingerprint."""
        return await self._store.load_alerts(source)

    async def firing_count(self) -> int:
        """How many alerts are firing across every source."""
        alerts = await self._store.load_alerts(None)
        return sum(1 for a in alerts.values() if a.state is AlertState.FIRING)

    async def outbox_counts(self) -> dict[OutboxState, int]:
        """How many outbox messages are in each state."""
        return await self._store.outbox_counts()

    async def state_snapshot(self) -> StateSnapshot:
        """What /metrics reports about alerts and the outbox."""
        alerts = await self._store.load_alerts(None)
        counts = await self._store.outbox_counts()
        return StateSnapshot(
            count_alerts(alerts.values()),
            counts.get(OutboxState.PENDING, 0),
            dead_letters=counts.get(OutboxState.DEAD, 0),
            firing_since=firing_starts(alerts.values()),
        )

    async def notification_logs(self) -> dict[str, NotificationLogEntry]:
        """What each notification group was last told, by group key."""
        return await self._store.notification_logs()

    async def dead_letter_messages(self, limit: int = 100) -> list[OutboxMessage]:
        """Notifications given up on, newest first."""
        return await self._store.dead_letters(limit=limit)

    async def rows(self, now: datetime) -> list[StatusRow]:
        """Every stored alert, classified at ``now``."""
        alerts = await self._store.load_alerts(None)
        silencer = await self.silences_in_force.silencer(now)
        return classify(alerts.values(), silencer, now)

    async def silence_list(self, now: datetime) -> list[Silence]:
        """The silences not ended at ``now``: the config's, then the stored ones."""
        return await self.silences_in_force.listed(now)

    def health(self) -> list[SourceHealth]:
        """Each source's health, in the config's order."""
        return list(self._health)

    # ------------------------------------------------------------------ StatusProvider

    async def trend(self) -> list[tuple[date, int]]:
        """Firing alerts per day over the last 30 days (recomputed every few minutes)."""
        return await self._trend.get(self._clock.now())

    async def alerts(self) -> list[AlertView]:
        """Every alert, with whether it is muted and a link to the device's console page."""
        views = []
        for row in await self.rows(self._clock.now()):
            f = row.alert.finding
            link = device_link(f.source_kind, self._console_url(f.source), f.device_id)
            views.append(
                AlertView.from_alert(
                    row.alert,
                    silenced=row.silenced_by is not None,
                    inhibited=row.inhibited,
                    console_link=link.url if link else None,
                    console_exact=link.exact if link else True,
                )
            )
        return views

    async def lease_rows(self) -> dict[str, Lease]:
        """Each source's live lease (who sweeps it, until when), by source."""
        now = self._clock.now()
        return {x.source: x for x in await self._store.leases() if x.expires_at > now}

    def store_problem(self) -> str | None:
        """Why the store cannot be written now, or None: then no sweep of any source
        can be recorded, whatever its last sweep said."""
        if self._health.store_failure is not None:
            return f"cannot record sweeps: {self._health.store_failure}"
        if self._leases is not None and not self._leases.store_writable():
            return f"cannot be written ({self._leases.last_error})"
        return None

    async def sources(self) -> list[SourceView]:
        """Each source's health, recent sweeps, remaining budget and lease holder. While
        the store cannot be written no source counts as healthy (see :meth:`store_problem`)."""
        views = []
        held = await self.lease_rows()
        problem = self.store_problem()
        for h in self._health:
            lease = held.get(h.name)
            src = self._config.source(h.name)
            budget = self._budgets.get(h.name)
            snap = None if budget is None else budget.snapshot()
            views.append(
                SourceView(
                    name=h.name,
                    kind=SourceKind(src.kind),
                    healthy=h.healthy and problem is None,
                    last_success=h.last_success,
                    consecutive_failures=h.consecutive_failures,
                    last_error=h.last_error if problem is None else f"store: {problem}",
                    budget_remaining=None if budget is None else float(budget.remaining),
                    budget_per_hour=src.budget.requests_per_hour,
                    sweeps=tuple(SweepView.from_stats(s) for s in h.history[-SWEEPS_SHOWN:]),
                    tenant_remaining=None if snap is None else snap.tenant_remaining,
                    tenant_limit=None if snap is None else snap.tenant_limit,
                    own_share=None if snap is None else snap.own_share,
                    cadence_s=h.cadence_s,
                    interval_s=src.interval.total_seconds(),
                    holder=None if lease is None else lease.owner,
                    lease_expires_at=None if lease is None else lease.expires_at,
                )
            )
        return views

    async def silences(self) -> list[SilenceView]:
        """The config's silences and those added at run time."""
        now = self._clock.now()
        return [
            SilenceView(
                id=s.id.removeprefix("store:"),
                matchers=matchers_text((m.name, m.op, m.value) for m in s.matchers),
                starts_at=s.starts_at,
                ends_at=s.ends_at,
                comment=s.comment,
                author=s.author,
                active=s.active(now),
            )
            for s in await self.silence_list(now)
        ]

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
            for m in await self._store.dead_letters()
        ]

    async def ready(self) -> tuple[bool, list[str]]:
        """Ready when the store can be written and every source this instance sweeps
        was swept recently (a source another instance holds is that one's business)."""
        views = await self.sources()
        if self._leases is not None and not self._leases.solo:
            mine = self._leases.held()
            views = [v for v in views if v.name in mine]
        reasons = readiness_reasons(
            views,
            {s.name: s.interval for s in self._config.sources if s.enabled},
            self._clock.now(),
        )
        try:
            await self._store.outbox_counts()
        except StoreError:
            reasons.append("store: not reachable")
        problem = self.store_problem()
        if problem is not None:
            reasons.append(f"store: {problem}")
        return not reasons, reasons

    def _console_url(self, source: str) -> str | None:
        try:
            src = self._config.source(source)
        except KeyError:
            return None
        return registry.get(src.kind).console_url(src)


@asynccontextmanager
async def open_status(config: Config, clock: Clock) -> AsyncIterator[Status]:
    """A :class:`Status` over the config's store, for a command run beside the daemon:
    every configured source (enabled or not), its health rebuilt from the store."""
    async with open_store(config.store) as store:
        health = HealthBook((s.name, s.kind) for s in config.sources)
        await health.restore(StoreHistory(store))
        yield Status(config, store, health, clock)
