"""The notification loop: planning and delivery, driven together.

:class:`NotifyPipeline` owns no notification logic of its own: it runs the
:class:`~monitor.notify.planner.NotifyPlanner` (route, group, decide, render, enqueue)
after each committed sweep and when a group timer falls due, and the
:class:`~monitor.notify.delivery.OutboxDelivery` (send, back off, dead-letter) whenever
the outbox has something due. ``kick(step)`` after each committed sweep; ``run()`` in a
task for the daemon; or ``flush(now, ignore_wait=True)`` then ``drain(timeout)`` for a
one-shot run.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import structlog

from monitor.alerts import StepResult
from monitor.clock import Clock
from monitor.config import Config
from monitor.errors import StoreError
from monitor.leasing import LeaseKeeper
from monitor.notify.delivery import DeliveryStats, OutboxDelivery, backoff
from monitor.notify.planner import NotifyPlanner
from monitor.notify.sender import Outgoing, Sender
from monitor.notify.templates import RenderedMessage, Templates
from monitor.sources.links import ConsoleLinks
from monitor.store.base import OutboxMessage, Store

log = structlog.get_logger(__name__)

#: The shortest pause of the run loop, so a zero interval cannot spin it.
MIN_PAUSE_S = 0.01


class NotifyPipeline:
    """Plans and delivers; see the module docstring."""

    def __init__(
        self,
        config: Config,
        store: Store,
        sender: Sender,
        clock: Clock,
        *,
        templates: Templates | None = None,
        leases: LeaseKeeper | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._sender = sender
        if templates is None:
            # Messages link each device to its page in its MDM console.
            templates = Templates(config.receivers, links=ConsoleLinks.of(config.sources))
        self.planner = NotifyPlanner(config, store, templates=templates)
        self.delivery = OutboxDelivery(config, store, sender, clock)
        if leases is not None:  # several instances: plan under leases, claim what is sent
            self.planner.leases = leases
            self.delivery.owner = leases.owner
        self._poll = config.notify.outbox.poll_interval.total_seconds()
        self._wake = asyncio.Event()
        self._stopping = False
        self._dirty = False

    def __repr__(self) -> str:
        return f"NotifyPipeline(receivers={[r.name for r in self._config.receivers]})"

    # ------------------------------------------------------------------ control

    def kick(self, step: StepResult | None = None) -> None:
        """New alert state was committed (``step``): plan from it, now."""
        if step is not None:
            self.planner.take(step)
        self._dirty = True
        self._wake.set()

    def stop(self) -> None:
        """Ask the run loop to finish its current step and return."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Plan and deliver until stopped or cancelled.

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
                    due = self.planner.next_due()
                    if self._dirty or (due is not None and due <= now):
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

    async def _next_pause(self) -> float:
        now = self._clock.now()
        candidates = [self._poll]
        due = self.planner.next_due()
        if due is not None:
            candidates.append((due - now).total_seconds())
        try:
            next_attempt = await self.delivery.next_attempt_at()
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

    # ------------------------------------------------------------------ the two parts

    async def flush(self, now: datetime, *, ignore_wait: bool = False) -> list[OutboxMessage]:
        """Plan the groups due at ``now`` (all with ``ignore_wait``) and queue messages."""
        return await self.planner.flush(now, ignore_wait=ignore_wait)

    async def preview(self, now: datetime) -> list[RenderedMessage]:
        """What ``flush(now, ignore_wait=True)`` would queue, without writing anything."""
        return await self.planner.preview(now)

    async def deliver_due(self) -> DeliveryStats:
        """Send every message due now."""
        return await self.delivery.deliver_due()

    async def drain(self, timeout: float) -> DeliveryStats:
        """Deliver what is due, for at most ``timeout`` seconds (shutdown, ``once``)."""
        return await self.delivery.drain(timeout)

    async def test_notify(self, receiver_name: str) -> RenderedMessage:
        """Render a sample alert for ``receiver_name`` and send it directly (no outbox).

        Raises KeyError for an unknown receiver and DeliveryError when sending fails.
        """
        message = self.planner.sample(receiver_name, self._clock.now())
        receiver = self._config.receiver(receiver_name)
        await self._sender.deliver(
            receiver, Outgoing(message.title, message.body, message.body_format)
        )
        log.info("notify.test_sent", receiver=receiver.name)
        return message


__all__ = [
    "DeliveryStats",
    "NotifyPipeline",
    "RenderedMessage",
    "backoff",
]
