"""Outbox delivery: send what is due, mark it delivered only after the sender returned.

Each call takes the oldest pending message of each group whose time has come and sends
it; a failure schedules the next attempt with exponential backoff (never sooner than a
``Retry-After`` the receiver gave), and after ``max_attempts`` the message becomes a
dead letter. A crash between sending and marking sends it again on restart: at worst
twice, never zero times. Planning (what to say) is :mod:`monitor.notify.planner`'s.

With several instances on one store, each message is claimed before it is sent
(:meth:`~monitor.store.base.Store.claim_due`, when :attr:`OutboxDelivery.owner` is set):
another instance skips it while the claim holds, and takes it over once the claim
lapses (its claimer crashed). A claim that lapsed before the send starts (this process
was paused) is not used: the message is left to whoever claims it next.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from monitor.clock import Clock
from monitor.config import Config
from monitor.errors import DeliveryError, PermanentDeliveryError
from monitor.notify.envelope import Envelope
from monitor.notify.owner_stage import OwnerNotices, RecipientUnknown
from monitor.notify.sender import Outgoing, Sender, kind_of, message_kind
from monitor.store.base import DeliveryFailure, OutboxMessage, OutboxState, Store

log = structlog.get_logger(__name__)


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


def _outgoing(message: OutboxMessage) -> Outgoing:
    """A queued message as it goes out, with the envelope of its group."""
    envelope = Envelope(message.group_key, message.reason, message.firing, message.resolved)
    return Outgoing(message.title, message.body, message.body_format, envelope)


def backoff(attempts: int, base: timedelta, cap: timedelta) -> timedelta:
    """The pause after the ``attempts``-th failure: base, 2x base, 4x base ... up to cap."""
    exponent = min(max(attempts - 1, 0), 32)
    return min(cap, base * (1 << exponent))


class OutboxDelivery:
    """Delivers the outbox through a :class:`~monitor.notify.sender.Sender`."""

    def __init__(self, config: Config, store: Store, sender: Sender, clock: Clock) -> None:
        self._config = config
        self._store = store
        self._sender = sender
        self._clock = clock
        self._outbox = config.notify.outbox
        self._owners = OwnerNotices(config, store)
        self._lock = asyncio.Lock()
        self.totals = DeliveryStats()
        #: This instance's name in outbox claims; None: no claims (one process alone).
        self.owner: str | None = None
        # A claim outlasts the longest send, with room for marking it; a batch holds no
        # more messages than are sent at once, so none waits for its turn past its claim.
        self._claim = self._outbox.send_timeout * 2 + timedelta(seconds=5)
        self._claimed_at = datetime.min.replace(tzinfo=UTC)

    async def next_attempt_at(self) -> datetime | None:
        """When the earliest pending message is next due, or None."""
        return await self._store.next_attempt_at()

    async def deliver_due(self) -> DeliveryStats:
        """Send every message due now, group heads first, each at most once per call."""
        async with self._lock:
            total = DeliveryStats()
            attempted: set[int] = set()
            limit = asyncio.Semaphore(self._outbox.parallel)

            async def one(message: OutboxMessage) -> DeliveryStats:
                async with limit:
                    return await self._deliver(message)

            while True:
                due = [m for m in await self._due() if m.id not in attempted]
                if not due:
                    break
                attempted.update(m.id for m in due)
                for stats in await asyncio.gather(*(one(m) for m in due)):
                    total = total + stats
            self.totals = self.totals + total
            return total

    async def _due(self) -> list[OutboxMessage]:
        now = self._clock.now()
        if self.owner is None:
            return await self._store.due(now)
        self._claimed_at = now
        return await self._store.claim_due(
            now, self.owner, self._claim, limit=self._outbox.parallel
        )

    async def release_claims(self) -> None:
        """Give back the claims of messages not sent (a clean shutdown)."""
        if self.owner is not None:
            await self._store.release_claims(self.owner)

    async def drain(self, timeout: float) -> DeliveryStats:
        """Deliver what is due, for at most ``timeout`` seconds (shutdown, ``once``)."""
        try:
            return await asyncio.wait_for(self.deliver_due(), max(timeout, 0.0))
        except TimeoutError:
            log.warning("notify.drain_timeout", timeout_s=timeout)
            return DeliveryStats()

    async def _deliver(self, message: OutboxMessage) -> DeliveryStats:
        try:
            receiver = self._config.receiver(message.receiver)
        except KeyError:
            return await self._failed(message, "the receiver is no longer configured",
                                      retry_after=None, give_up=True)
        try:
            receiver = await self._owners.addressed(message, receiver)
        except RecipientUnknown as exc:
            return await self._failed(message, str(exc), retry_after=None, give_up=True)
        timeout = self._outbox.send_timeout.total_seconds()
        if self.owner is not None and self._clock.now() >= self._claimed_at + self._claim:
            log.warning("notify.claim_lapsed", message_id=message.id, group=message.group_key)
            return DeliveryStats()
        try:
            with message_kind(kind_of(message.reason.value, message.severity or None)):
                await asyncio.wait_for(
                    self._sender.deliver(receiver, _outgoing(message)),
                    timeout,
                )
        except PermanentDeliveryError as exc:
            # Trying again cannot help (a URL apprise cannot parse, credentials refused):
            # dead-letter it now, with its reason, rather than retry it for days.
            return await self._failed(message, str(exc), retry_after=None, give_up=True)
        except DeliveryError as exc:
            return await self._failed(message, str(exc), retry_after=exc.retry_after)
        except TimeoutError:
            return await self._failed(message, f"no answer within {timeout:g}s", retry_after=None)
        except Exception as exc:  # a sender bug must not stop delivery to other groups
            return await self._failed(
                message, f"unexpected {exc.__class__.__name__}", retry_after=None
            )
        await self._store.mark_delivered(message.id, self._clock.now(), claimed_by=self.owner)
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
        max_attempts = message.attempts + 1 if give_up else self._outbox.max_attempts
        updated = await self._store.mark_failed(
            message.id, DeliveryFailure(error, now, now + delay, max_attempts),
            claimed_by=self.owner,
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
