"""The persistence protocol and the records it stores.

Everything the daemon must remember across a restart goes through :class:`Store`:
alerts and their history, sweeps, the notification log (what each group was last told),
the outbox, silences and the actions audit. One implementation ships
(:class:`monitor.store.sqlite.SqliteStore`); SQL lives only in this package.

Two operations are deliberately one transaction each:

- :meth:`Store.commit_sweep`: alert rows + transitions + the sweep row;
- :meth:`Store.enqueue`: the outbox message + the notification-log entry it implies.

So a crash at any instant leaves either the old state or the new one, and a message is
either queued with the log that explains it, or neither is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Literal, Protocol, Self

from monitor.alerts import StepResult
from monitor.models import Alert, NotifyReason, SweepStats, Transition

BodyFormat = Literal["text", "markdown", "html"]
MatchOp = Literal["=", "!=", "=~", "!~"]


class OutboxState(StrEnum):
    """Where an outbox message stands."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class SweepRecord:
    """One committed sweep: its stats and how many transitions it caused."""

    id: int
    stats: SweepStats
    transitions: int
    firing: int


@dataclass(frozen=True, slots=True)
class NotificationLogEntry:
    """What one aggregation group was last told.

    ``firing``: the fingerprints the group's receiver knows as firing (announced, and not
    yet announced as resolved). ``sent_at``: when the last message was queued (the
    repeat interval counts from it). ``updated_at``: when the entry last changed, with
    or without a message (a resolution a receiver does not want is forgotten silently).
    ``route`` and ``labels`` let a group be rebuilt when none of its alerts remain.
    """

    group_key: str
    receiver: str
    route: str
    labels: Mapping[str, str]
    firing: frozenset[str]
    sent_at: datetime | None
    updated_at: datetime
    reason: NotifyReason | None = None


@dataclass(frozen=True, slots=True)
class MessageDraft:
    """A rendered message to queue."""

    group_key: str
    receiver: str
    reason: NotifyReason
    title: str
    body: str
    body_format: BodyFormat
    created_at: datetime
    firing: int = 0
    resolved: int = 0


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A queued message and its delivery state.

    ``next_attempt_at``: when a pending message is tried next; for a dead letter, when
    it was given up on.
    """

    id: int
    group_key: str
    receiver: str
    reason: NotifyReason
    title: str
    body: str
    body_format: BodyFormat
    created_at: datetime
    state: OutboxState
    attempts: int
    next_attempt_at: datetime
    last_error: str = ""
    delivered_at: datetime | None = None
    firing: int = 0
    resolved: int = 0


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher: ``name`` ``op`` ``value`` with op one of = != =~ !~."""

    name: str
    op: MatchOp
    value: str


@dataclass(frozen=True, slots=True)
class SilenceRecord:
    """A silence added at run time (CLI, API). ``ends_at`` moves to now when expired."""

    id: int
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    comment: str
    author: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One audited remediation action (attempted, refused, done or failed)."""

    id: int
    action: str
    device: str
    who: str
    at: datetime
    result: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AlertHistoryEntry:
    """One stored transition; ``id`` orders entries that share a timestamp."""

    id: int
    transition: Transition


@dataclass(frozen=True, slots=True)
class OwnerItemNotice:
    """What one device owner was told about one failing item (by fingerprint)."""

    first_noticed: datetime
    last_noticed: datetime
    notices: int
    escalated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OwnerRecord:
    """The notice state of one owner on one owner receiver.

    ``key`` is ``receiver:owner-id`` (the owner id is a hash of the address, so keys can
    be logged); ``address`` is personal data, kept out of reprs. ``day``/``sent_today``
    count messages for the per-day cap; ``last_window`` names the send window that
    already carried a message.
    """

    key: str
    receiver: str
    address: str = field(repr=False)
    items: Mapping[str, OwnerItemNotice]
    updated_at: datetime
    day: str = ""
    sent_today: int = 0
    last_window: str = ""


class Store(Protocol):
    """Everything the daemon persists. Every method may raise StoreError."""

    async def open(self) -> None:
        """Open (and create or migrate) the store."""
        ...

    async def close(self) -> None:
        """Close the store; safe to call twice."""
        ...

    def scratch(self) -> AbstractAsyncContextManager[None]:
        """Work on a throwaway copy of the store inside the block (dry runs): what is
        written there is readable there and gone afterwards."""
        ...

    async def __aenter__(self) -> Self:
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        ...

    # -- alerts and sweeps

    async def load_alerts(self, source: str | None = None) -> dict[str, Alert]:
        """Every stored alert (of one source when given), by fingerprint."""
        ...

    async def known_rules(self, source: str) -> frozenset[str]:
        """The rule ids ever evaluated for ``source`` (for a baseline first start)."""
        ...

    async def commit_sweep(self, stats: SweepStats, result: StepResult) -> int:
        """Write a sweep's alerts, transitions and stats in one transaction; the sweep id."""
        ...

    async def sweeps(self, source: str | None = None, limit: int = 50) -> list[SweepRecord]:
        """The latest sweeps, newest first."""
        ...

    async def alert_history(
        self,
        *,
        fingerprint: str | None = None,
        device_id: str | None = None,
        source: str | None = None,
        limit: int = 200,
    ) -> list[AlertHistoryEntry]:
        """Stored transitions, newest first, filtered by fingerprint/device/source."""
        ...

    # -- notification log and outbox

    async def notification_log(self, group_key: str) -> NotificationLogEntry | None:
        """What one group was last told, or None."""
        ...

    async def notification_logs(self) -> dict[str, NotificationLogEntry]:
        """Every group's log entry, by group key."""
        ...

    async def update_notification_log(self, entry: NotificationLogEntry) -> None:
        """Replace a group's log entry without queuing a message."""
        ...

    async def enqueue(self, draft: MessageDraft, entry: NotificationLogEntry) -> OutboxMessage:
        """Queue a message and record its log entry, in one transaction."""
        ...

    async def due(self, now: datetime, limit: int = 100) -> list[OutboxMessage]:
        """Messages to try now: the oldest pending one of each group, if its time has come."""
        ...

    async def next_attempt_at(self) -> datetime | None:
        """When the earliest pending message is next due, or None when none is pending."""
        ...

    async def mark_delivered(self, message_id: int, delivered_at: datetime) -> None:
        """Record a successful delivery."""
        ...

    async def mark_failed(
        self,
        message_id: int,
        *,
        error: str,
        failed_at: datetime,
        next_attempt_at: datetime,
        max_attempts: int,
    ) -> OutboxMessage:
        """Record a failed attempt; dead-letter it once ``max_attempts`` are spent."""
        ...

    async def requeue(self, message_id: int, now: datetime) -> bool:
        """Give a dead letter a fresh set of attempts; False if no such dead letter."""
        ...

    async def dead_letters(self, limit: int = 100) -> list[OutboxMessage]:
        """Messages given up on, newest first."""
        ...

    async def outbox(
        self, *, group_key: str | None = None, state: OutboxState | None = None, limit: int = 500
    ) -> list[OutboxMessage]:
        """Outbox messages in queue order, optionally filtered."""
        ...

    async def outbox_counts(self) -> dict[OutboxState, int]:
        """How many messages are in each state."""
        ...

    # -- silences

    async def add_silence(
        self,
        matchers: tuple[Matcher, ...],
        *,
        starts_at: datetime,
        ends_at: datetime,
        comment: str,
        author: str,
        created_at: datetime,
    ) -> SilenceRecord:
        """Store a silence; the running pipeline picks it up on its next evaluation."""
        ...

    async def silences(
        self, now: datetime | None = None, *, include_expired: bool = False
    ) -> list[SilenceRecord]:
        """Stored silences; without include_expired, those not ended at ``now``."""
        ...

    async def expire_silence(self, silence_id: int, now: datetime) -> bool:
        """End a silence now; False if it does not exist or already ended."""
        ...

    # -- actions audit

    async def record_action(
        self, action: str, device: str, who: str, at: datetime, result: str, detail: str = ""
    ) -> int:
        """Append an audit entry for a remediation action; its id."""
        ...

    async def actions(
        self, *, device: str | None = None, since: datetime | None = None, limit: int = 200
    ) -> list[ActionRecord]:
        """Audit entries, newest first."""
        ...

    # -- owner notices and digests

    async def owner_records(self, receiver: str | None = None) -> dict[str, OwnerRecord]:
        """Every owner's notice state (of one receiver when given), by key."""
        ...

    async def save_owner(
        self, record: OwnerRecord, drafts: Sequence[MessageDraft] = ()
    ) -> list[OutboxMessage]:
        """Queue ``drafts`` and write ``record``, in one transaction; the queued messages.
        A record without items is kept until :meth:`prune` (its address may still be
        needed to deliver a queued message)."""
        ...

    async def digest_runs(self) -> dict[str, datetime]:
        """When each digest last ran (was sent or had its first start recorded)."""
        ...

    async def record_digest_run(self, name: str, at: datetime) -> None:
        """Remember that digest ``name`` ran at ``at``."""
        ...

    async def transitions_since(
        self, since: datetime, limit: int = 100_000
    ) -> list[AlertHistoryEntry]:
        """Stored transitions at or after ``since``, oldest first (at most ``limit``)."""
        ...

    # -- housekeeping

    async def prune(self, before: datetime) -> dict[str, int]:
        """Forget transitions, sweeps, delivered messages, ended silences and owners with
        nothing failing, older than ``before``; how many rows of each went."""
        ...
