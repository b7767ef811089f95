"""The records the store keeps: what :class:`monitor.store.base.Store` reads and writes.

Plain frozen dataclasses (and the outbox's states), free of SQL, so every stage can
build and read them; :mod:`monitor.store.base` re-exports them next to the protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from monitor.models import NotifyReason, SweepStats, Transition

BodyFormat = Literal["text", "markdown", "html"]
MatchOp = Literal["=", "!=", "=~", "!~"]


class OutboxState(StrEnum):
    """Where an outbox message stands."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


def _drafted(draft: MessageDraft | SilenceDraft) -> dict[str, Any]:
    """The fields of a draft, by name (to build the record it becomes when stored)."""
    return {f.name: getattr(draft, f.name) for f in fields(draft)}


@dataclass(frozen=True, slots=True)
class SweepRecord:
    """One committed sweep: its stats (with the firing alerts and the transitions its
    step left) and, under a lease, the instance that made it and the lease's epoch."""

    id: int
    stats: SweepStats
    instance: str | None = None
    epoch: int | None = None


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
    #: The highest severity among the firing alerts it announces ("" for none).
    severity: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxMessage(MessageDraft):
    """A queued message: its draft, its id and its delivery state.

    ``next_attempt_at``: when a pending message is tried next; for a dead letter, when
    it was given up on.
    """

    id: int
    state: OutboxState
    attempts: int
    next_attempt_at: datetime
    last_error: str = ""
    delivered_at: datetime | None = None

    @classmethod
    def queued(cls, draft: MessageDraft, message_id: int) -> OutboxMessage:
        """``draft`` just queued as ``message_id``: pending, first due when created."""
        return cls(
            **_drafted(draft), id=message_id, state=OutboxState.PENDING, attempts=0,
            next_attempt_at=draft.created_at,
        )


@dataclass(frozen=True, slots=True)
class DeliveryFailure:
    """A failed attempt to deliver an outbox message: what went wrong and when, when to
    try again, and how many attempts the message gets in all before it is dead-lettered
    (a dead letter is never attempted again: its ``next_attempt_at`` becomes
    ``failed_at``, when it was given up on)."""

    error: str
    failed_at: datetime
    next_attempt_at: datetime
    max_attempts: int


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher: ``name`` ``op`` ``value`` with op one of = != =~ !~."""

    name: str
    op: MatchOp
    value: str


@dataclass(frozen=True, slots=True)
class SilenceDraft:
    """A silence to add at run time (CLI, API): what it matches, from when until when,
    why, who said so and when."""

    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    comment: str
    author: str
    created_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SilenceRecord(SilenceDraft):
    """A stored silence: its draft and its id. ``ends_at`` moves to now when expired."""

    id: int

    @classmethod
    def added(cls, draft: SilenceDraft, silence_id: int) -> SilenceRecord:
        """``draft`` just stored as ``silence_id``."""
        return cls(**_drafted(draft), id=silence_id)


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


@dataclass(frozen=True, slots=True)
class Lease:
    """The right to sweep one source (and write on its behalf) until ``expires_at``.

    ``epoch`` grows by one every time the lease changes hands or is taken again after
    it lapsed; a write carrying an older epoch is refused (fencing).
    """

    source: str
    owner: str
    epoch: int
    acquired_at: datetime
    expires_at: datetime
