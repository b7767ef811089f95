"""The notification pipeline: stored alerts -> groups -> outbox -> receivers.

One evaluation (``flush``) works from what the store holds, so it is restart-safe by
construction::

    load alerts, notification log, silences          (one ``now`` for the whole pass)
      -> route and group                              (routing.py, grouping.py)
      -> per group whose timer is due: decide()       (pure: reason or None)
      -> render (templates.py) and enqueue            (message + log entry, one transaction)

Delivery (``deliver_due``) takes the oldest pending message of each group whose time
has come, sends it, and marks it delivered only after the sender returned; a failure
schedules the next attempt with exponential backoff, and after ``max_attempts`` the
message becomes a dead letter. A crash between sending and marking sends it again on
restart: at worst twice, never zero times.

Group timers follow Alertmanager: a group seen for the first time waits
``group_wait`` (so the alerts of one sweep travel together); after each evaluation the
next one is ``group_interval`` later; ``repeat_interval`` is enforced by the log. The
timers live in memory: after a restart every group waits ``group_wait`` once more, and
the log keeps it from repeating what was already said.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from monitor.alerts import inhibited_fingerprints
from monitor.clock import Clock
from monitor.config import Config
from monitor.errors import DeliveryError, StoreError
from monitor.models import (
    Alert,
    AlertState,
    Finding,
    NotifyReason,
    Severity,
    SourceKind,
    SubjectKind,
)
from monitor.notify.alertmanager import render_alerts
from monitor.notify.envelope import Envelope
from monitor.notify.grouping import AlertGroup, GroupDecision, build_groups, decide
from monitor.notify.labels import alert_labels
from monitor.notify.routing import Route, build_routes
from monitor.notify.sender import Sender
from monitor.notify.silences import Silence, Silencer, from_config, from_record
from monitor.notify.templates import (
    RenderedMessage,
    Templates,
    build_context,
    decision_context,
)
from monitor.store.base import (
    MessageDraft,
    NotificationLogEntry,
    OutboxMessage,
    OutboxState,
    Store,
)

log = structlog.get_logger(__name__)

#: The shortest pause of the run loop, so a zero interval cannot spin it.
MIN_PAUSE_S = 0.01


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """What one delivery pass did."""

    delivered: int = 0
    failed: int = 0
    dead: int = 0

    def __add__(self, other: DeliveryStats) -> DeliveryStats:
        return DeliveryStats(
            self.delivered + other.delivered, self.failed + other.failed, self.dead + other.dead
        )


@dataclass(frozen=True, slots=True)
class _Plan:
    decision: GroupDecision
    entry: NotificationLogEntry
    message: RenderedMessage | None


def backoff(attempts: int, base: timedelta, cap: timedelta) -> timedelta:
    """The pause after the ``attempts``-th failure: base, 2x base, 4x base ... up to cap."""
    exponent = min(max(attempts - 1, 0), 32)
    return min(cap, base * (1 << exponent))


class NotifyPipeline:
    """Routes, groups, renders and delivers; see the module docstring.

    ``kick()`` after each committed sweep; ``run()`` in a task for the daemon; or
    ``flush(now, ignore_wait=True)`` then ``drain(timeout)`` for a one-shot run.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        sender: Sender,
        clock: Clock,
        *,
        templates: Templates | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._sender = sender
        self._clock = clock
        self._root: Route = build_routes(config.route)
        self._config_silences: tuple[Silence, ...] = tuple(
            from_config(s, i) for i, s in enumerate(config.silences)
        )
        self._templates = templates or Templates(config.receivers)
        self._outbox = config.notify.outbox
        self._timers: dict[str, datetime] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._dirty = False
        self._flush_lock = asyncio.Lock()
        self._deliver_lock = asyncio.Lock()
        self.totals = DeliveryStats()

    def __repr__(self) -> str:
        return f"NotifyPipeline(receivers={[r.name for r in self._config.receivers]})"

    @property
    def routes(self) -> Route:
        """The resolved route tree."""
        return self._root

    # ------------------------------------------------------------------ control

    def kick(self) -> None:
        """Wake the run loop now: new alert state was committed, evaluate the groups."""
        self._dirty = True
        self._wake.set()

    def stop(self) -> None:
        """Ask the run loop to finish its current step and return."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Evaluate groups and deliver due messages until stopped or cancelled.

        Groups are evaluated after a kick and when a group timer falls due; in between,
        the loop only looks at the outbox (every ``outbox.poll_interval`` at most).
        """
        self._stopping = False
        self._dirty = True  # evaluate once at start: timers are not persisted
        log.info("notify.started", receivers=len(self._config.receivers))
        try:
            while not self._stopping:
                now = self._clock.now()
                try:
                    if self._dirty or self._timer_due(now):
                        self._dirty = False
                        await self.flush(now)
                    await self.deliver_due()
                except Exception as exc:  # the loop must outlive one bad cycle
                    log.error(
                        "notify.cycle_failed", error=f"{exc.__class__.__name__}: {exc}",
                        exc_info=not isinstance(exc, StoreError),
                    )
                if self._stopping:
                    break
                await self._pause(await self._next_pause())
        finally:
            log.info("notify.stopped")

    def _timer_due(self, now: datetime) -> bool:
        return any(due <= now for due in self._timers.values())

    async def _next_pause(self) -> float:
        now = self._clock.now()
        candidates = [self._outbox.poll_interval.total_seconds()]
        if self._timers:
            candidates.append((min(self._timers.values()) - now).total_seconds())
        try:
            next_attempt = await self._store.next_attempt_at()
        except StoreError:
            next_attempt = None
        if next_attempt is not None:
            candidates.append((next_attempt - now).total_seconds())
        return max(min(candidates), MIN_PAUSE_S)

    async def _pause(self, seconds: float) -> None:
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()
            self._wake.clear()

    # ------------------------------------------------------------------ evaluation

    async def flush(self, now: datetime, *, ignore_wait: bool = False) -> list[OutboxMessage]:
        """Evaluate the groups due at ``now`` (all of them with ``ignore_wait``) and
        queue what they have to say. Returns the queued messages."""
        async with self._flush_lock:
            plans = await self._plan(now, ignore_wait=ignore_wait, commit=True)
            queued: list[OutboxMessage] = []
            for plan in plans:
                if plan.message is None:
                    await self._store.update_notification_log(plan.entry)
                    continue
                draft = MessageDraft(
                    group_key=plan.message.group_key,
                    receiver=plan.message.receiver,
                    reason=plan.message.reason,
                    title=plan.message.title,
                    body=plan.message.body,
                    body_format=plan.message.body_format,
                    created_at=now,
                    firing=plan.message.firing,
                    resolved=plan.message.resolved,
                )
                queued.append(await self._store.enqueue(draft, plan.entry))
            for message in queued:
                log.info(
                    "notify.queued", message_id=message.id, receiver=message.receiver,
                    group=message.group_key, reason=message.reason.value,
                    firing=message.firing, resolved=message.resolved,
                )
            return queued

    async def preview(self, now: datetime) -> list[RenderedMessage]:
        """What ``flush(now, ignore_wait=True)`` would queue, without writing anything."""
        async with self._flush_lock:
            plans = await self._plan(now, ignore_wait=True, commit=False)
        return [p.message for p in plans if p.message is not None]

    async def silencer(self, now: datetime) -> Silencer:
        """The silences in force: the config's and those stored at run time."""
        stored = await self._store.silences(now)
        return Silencer((*self._config_silences, *(from_record(s) for s in stored)))

    async def muted(self, now: datetime) -> frozenset[str]:
        """Fingerprints of the alerts muted now, by a silence or by inhibition."""
        alerts = await self._store.load_alerts()
        return self._muted(alerts, await self.silencer(now), now)

    async def _plan(self, now: datetime, *, ignore_wait: bool, commit: bool) -> list[_Plan]:
        alerts = await self._store.load_alerts()
        logs = await self._store.notification_logs()
        silencer = await self.silencer(now)
        muted = self._muted(alerts, silencer, now)
        groups = build_groups(alerts.values(), self._root, logs)

        plans: list[_Plan] = []
        evaluated = 0
        for key, group in groups.items():
            last = logs.get(key)
            if not group.announceable() and not (last is not None and last.firing):
                # Nothing fires and nothing was announced: the group is idle.
                if commit:
                    self._timers.pop(key, None)
                continue
            due_at = self._timers.get(key)
            if due_at is None:
                due_at = now + group.route.group_wait
                if commit:
                    self._timers[key] = due_at
            if not ignore_wait and now < due_at:
                continue
            evaluated += 1
            if commit:
                self._timers[key] = now + group.route.group_interval
            plan = self._evaluate(group, last, now, muted)
            if plan is not None:
                plans.append(plan)
        if commit:
            for key in set(self._timers) - set(groups):
                del self._timers[key]
        log.debug(
            "notify.evaluated", groups=len(groups), evaluated=evaluated, plans=len(plans),
            muted=len(muted), silences=len(silencer),
        )
        return plans

    def _muted(
        self, alerts: Mapping[str, Alert], silencer: Silencer, now: datetime
    ) -> frozenset[str]:
        inhibited = inhibited_fingerprints(alerts.values())
        if not len(silencer):
            return inhibited
        silenced = {
            fp for fp, a in alerts.items() if silencer.silenced_by(alert_labels(a), now) is not None
        }
        return inhibited | silenced

    def _evaluate(
        self,
        group: AlertGroup,
        last: NotificationLogEntry | None,
        now: datetime,
        muted: frozenset[str],
    ) -> _Plan | None:
        receiver = self._config.receiver(group.receiver)
        decision = decide(group, last, now, muted=muted, send_resolved=receiver.send_resolved)
        if decision.entry is None:
            return None
        if decision.reason is None:
            return _Plan(decision, decision.entry, None)
        if receiver.alertmanager is not None:
            title, body, body_format = render_alerts(decision, receiver, now)
        else:
            title, body, body_format = self._templates.render(
                receiver, decision_context(decision, receiver, now)
            )
        message = RenderedMessage(
            receiver=receiver.name,
            reason=decision.reason,
            title=title,
            body=body,
            body_format=body_format,
            group_key=group.key,
            firing=len(decision.firing),
            resolved=decision.resolved_count,
        )
        return _Plan(decision, decision.entry, message)

    # ------------------------------------------------------------------ delivery

    async def deliver_due(self) -> DeliveryStats:
        """Send every message due now, group heads first, each at most once per call."""
        async with self._deliver_lock:
            total = DeliveryStats()
            attempted: set[int] = set()
            limit = asyncio.Semaphore(self._outbox.parallel)

            async def one(message: OutboxMessage) -> DeliveryStats:
                async with limit:
                    return await self._deliver(message)

            while True:
                due = [m for m in await self._store.due(self._clock.now())
                       if m.id not in attempted]
                if not due:
                    break
                attempted.update(m.id for m in due)
                for stats in await asyncio.gather(*(one(m) for m in due)):
                    total = total + stats
            self.totals = self.totals + total
            return total

    async def _deliver(self, message: OutboxMessage) -> DeliveryStats:
        try:
            receiver = self._config.receiver(message.receiver)
        except KeyError:
            return await self._failed(message, "the receiver is no longer configured",
                                      retry_after=None, give_up=True)
        timeout = self._outbox.send_timeout.total_seconds()
        try:
            await asyncio.wait_for(
                self._sender.send(
                    receiver, message.title, message.body, message.body_format,
                    Envelope(message.group_key, message.reason, message.firing, message.resolved),
                ),
                timeout,
            )
        except DeliveryError as exc:
            return await self._failed(message, str(exc), retry_after=exc.retry_after)
        except TimeoutError:
            return await self._failed(message, f"no answer within {timeout:g}s", retry_after=None)
        except Exception as exc:  # a sender bug must not stop delivery to other groups
            return await self._failed(
                message, f"unexpected {exc.__class__.__name__}", retry_after=None
            )
        await self._store.mark_delivered(message.id, self._clock.now())
        log.info(
            "notify.delivered", message_id=message.id, receiver=message.receiver,
            group=message.group_key, reason=message.reason.value, attempts=message.attempts + 1,
        )
        return DeliveryStats(delivered=1)

    async def _failed(
        self,
        message: OutboxMessage,
        error: str,
        *,
        retry_after: float | None,
        give_up: bool = False,
    ) -> DeliveryStats:
        now = self._clock.now()
        delay = backoff(message.attempts + 1, self._outbox.backoff_base, self._outbox.backoff_max)
        if retry_after is not None:
            delay = max(delay, timedelta(seconds=retry_after))
        updated = await self._store.mark_failed(
            message.id,
            error=error,
            failed_at=now,
            next_attempt_at=now + delay,
            max_attempts=message.attempts + 1 if give_up else self._outbox.max_attempts,
        )
        if updated.state is OutboxState.DEAD:
            log.error(
                "notify.dead_letter", message_id=message.id, receiver=message.receiver,
                group=message.group_key, attempts=updated.attempts, error=error,
            )
            return DeliveryStats(failed=1, dead=1)
        log.warning(
            "notify.delivery_failed", message_id=message.id, receiver=message.receiver,
            group=message.group_key, attempts=updated.attempts, error=error,
            next_attempt_at=updated.next_attempt_at.isoformat(),
        )
        return DeliveryStats(failed=1)

    async def drain(self, timeout: float) -> DeliveryStats:
        """Deliver what is due, for at most ``timeout`` seconds (shutdown, ``once``)."""
        try:
            return await asyncio.wait_for(self.deliver_due(), max(timeout, 0.0))
        except TimeoutError:
            log.warning("notify.drain_timeout", timeout_s=timeout)
            return DeliveryStats()

    # ------------------------------------------------------------------ test message

    async def test_notify(self, receiver_name: str) -> RenderedMessage:
        """Render a sample alert for ``receiver_name`` and send it directly (no outbox).

        Raises KeyError for an unknown receiver and DeliveryError when sending fails.
        """
        receiver = self._config.receiver(receiver_name)
        now = self._clock.now()
        sample = _sample_alerts(now)
        title, body, body_format = self._templates.render(
            receiver,
            build_context(
                receiver, NotifyReason.FIRST, firing=sample, resolved=(),
                new=frozenset(a.fingerprint for a in sample), now=now,
            ),
        )
        title = f"[TEST] {title}"
        await self._sender.send(receiver, title, body, body_format)
        log.info("notify.test_sent", receiver=receiver.name)
        return RenderedMessage(
            receiver=receiver.name, reason=NotifyReason.FIRST, title=title, body=body,
            body_format=body_format, firing=len(sample),
        )


def _sample_alerts(now: datetime) -> tuple[Alert, ...]:
    out = []
    for n, (name, serial) in enumerate((("Test Mac 1", "C02TEST0001"),
                                        ("Test Mac 2", "C02TEST0002")), start=1):
        finding = Finding(
            rule_id="monitor.test",
            source="test",
            source_kind=SourceKind.KANDJI,
            device_id=f"test-device-{n}",
            device_name=name,
            device_serial=serial,
            subject_kind=SubjectKind.LIBRARY_ITEM,
            subject_id="test-item",
            subject_name="Sample library item",
            subject_status="ERROR",
            severity=Severity.INFO,
            summary=f"Sample library item is ERROR on {name}",
            description="A test message from compliance-monitor; nothing is wrong.",
        )
        out.append(Alert(
            fingerprint=finding.fingerprint, state=AlertState.FIRING, finding=finding,
            active_since=now, last_seen=now, firing_since=now,
        ))
    return tuple(out)


__all__ = [
    "DeliveryStats",
    "NotifyPipeline",
    "RenderedMessage",
    "backoff",
]
