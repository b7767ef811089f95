"""The persistence protocol, and the records it stores (re-exported from
:mod:`monitor.store.records`, so ``from monitor.store.base import Lease`` works).

Everything the daemon must remember across a restart goes through :class:`Store`:
alerts and their history, sweeps, the notification log (what each group was last told),
the outbox and its delivery claims, silences, the actions audit, the
request budget ledger, the sweepers' per-device memo and the source leases. Open one
with :func:`monitor.store.open_store` (SQLite or PostgreSQL, chosen by the URL); SQL
lives only in this package.

Two operations are deliberately one transaction each:

- :meth:`Store.commit_sweep`: alert rows + transitions + the sweep row;
- :meth:`Store.enqueue`: the outbox message + the notification-log entry it implies.

So a crash at any instant leaves either the old state or the new one, and a message is
either queued with the log that explains it, or neither is.

Several instances may share one store. Each source is swept by the holder of its
:class:`Lease`, and the cluster's own duties (owner notices, digests, housekeeping) are
done by the holder of the duties lease (:data:`monitor.leasing.DUTIES`). A write made
under a lease (``commit_sweep``, ``enqueue``, ``update_notification_log``,
``save_owner``, ``record_digest_run``, ``save_memo``) may carry it, and is refused with
:class:`~monitor.errors.StaleLeaseError` unless the lease is still the current one
(same owner, same epoch) and had not expired at the write's own timestamp. Outbox
messages are claimed (:meth:`Store.claim_due`) before they are sent, so two instances
never send the same message; a crashed claimer's claims lapse after their time-out and
the messages are claimed again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from monitor.alerts import StepResult
from monitor.models import Alert, SweepStats
from monitor.store.records import (
    ActionRecord,
    AlertHistoryEntry,
    BodyFormat,
    DeliveryFailure,
    Lease,
    Matcher,
    MatchOp,
    MessageDraft,
    NotificationLogEntry,
    OutboxMessage,
    OutboxState,
    OwnerItemNotice,
    OwnerRecord,
    SilenceDraft,
    SilenceRecord,
    SweepRecord,
)

#: The records are re-exported: they are part of the protocol.
__all__ = [
    "ActionRecord", "AlertHistoryEntry", "AlertStore", "BodyFormat", "DeliveryFailure",
    "Housekeeping", "Lease",
    "MatchOp", "Matcher", "MessageDraft", "NotificationLogEntry", "OutboxMessage",
    "OutboxState", "OutboxStore", "OwnerItemNotice", "OwnerRecord", "OwnerStore",
    "SharedState", "SilenceDraft", "SilenceRecord", "SilenceStore", "Store", "SweepRecord",
]


class AlertStore(Protocol):
    """Alerts, sweeps, known rules and the transitions they left."""

    async def load_alerts(self, source: str | None = None) -> dict[str, Alert]:
        """Every stored alert (of one source when given), by fingerprint."""
        ...

    async def known_rules(self, source: str) -> frozenset[str]:
        """The rule ids ever evaluated for ``source`` (for a baseline first start)."""
        ...

    async def commit_sweep(
        self, stats: SweepStats, result: StepResult, *, lease: Lease | None = None
    ) -> int:
        """Write a sweep's alerts, transitions, newly evaluated rule ids and stats in one
        transaction; the sweep id.

        With ``lease``, refused (StaleLeaseError) unless it still holds at
        ``stats.finished_at``."""
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

    async def transitions_since(
        self, since: datetime, limit: int = 100_000
    ) -> list[AlertHistoryEntry]:
        """Stored transitions at or after ``since``, oldest first (at most ``limit``)."""
        ...


class OutboxStore(Protocol):
    """What each group was told, and the messages queued to tell it."""

    async def notification_log(self, group_key: str) -> NotificationLogEntry | None:
        """What one group was last told, or None."""
        ...

    async def notification_logs(self) -> dict[str, NotificationLogEntry]:
        """Every group's log entry, by group key."""
        ...

    async def update_notification_log(
        self, entry: NotificationLogEntry, *, lease: Lease | None = None
    ) -> None:
        """Replace a group's log entry without queuing a message (fenced by ``lease``)."""
        ...

    async def enqueue(
        self, draft: MessageDraft, entry: NotificationLogEntry, *, lease: Lease | None = None
    ) -> OutboxMessage:
        """Queue a message and record its log entry, in one transaction (fenced by
        ``lease`` at ``draft.created_at``)."""
        ...

    async def claim_due(
        self, now: datetime, owner: str, ttl: timedelta, limit: int = 100
    ) -> list[OutboxMessage]:
        """Claim the messages to try now for ``owner`` until ``now + ttl``: the oldest
        pending message of each group, if due and not claimed by another live claimer.
        Atomic: two claimers never get the same message while its claim holds."""
        ...

    async def release_claims(self, owner: str) -> int:
        """Drop every claim ``owner`` holds (shutdown); how many were dropped."""
        ...

    async def due(self, now: datetime, limit: int = 100) -> list[OutboxMessage]:
        """Messages to try now: the oldest pending one of each group, if its time has come."""
        ...

    async def next_attempt_at(self) -> datetime | None:
        """When the earliest due head of a group (see :meth:`due`) is next due, or None
        when none is pending."""
        ...

    async def mark_delivered(
        self, message_id: int, delivered_at: datetime, *, claimed_by: str | None = None
    ) -> bool:
        """Record a successful delivery (and drop its claim). With ``claimed_by``, only
        while that owner holds the claim; False when it did not."""
        ...

    async def mark_failed(
        self, message_id: int, failure: DeliveryFailure, *, claimed_by: str | None = None
    ) -> OutboxMessage:
        """Record a failed attempt (and drop its claim); dead-letter the message once
        ``failure.max_attempts`` are spent. With ``claimed_by``, a message whose claim
        another owner holds is returned unchanged. StoreError when there is no such
        message."""
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
        """How many messages are in each state (every state present, zero when empty)."""
        ...


class SilenceStore(Protocol):
    """Silences added at run time, and the audit of remediation actions."""

    async def add_silence(self, draft: SilenceDraft) -> SilenceRecord:
        """Store a silence; every instance's pipeline picks it up on its next evaluation.
        ValueError when it has no matcher or does not end after it starts."""
        ...

    async def silences(
        self, now: datetime | None = None, *, include_expired: bool = False
    ) -> list[SilenceRecord]:
        """Stored silences, oldest first; without include_expired, those not ended at
        ``now``."""
        ...

    async def expire_silence(self, silence_id: int, now: datetime) -> bool:
        """End a silence now; False if it does not exist or already ended."""
        ...

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


class OwnerStore(Protocol):
    """What device owners were told, and when each digest last ran."""

    async def owner_records(self, receiver: str | None = None) -> dict[str, OwnerRecord]:
        """Every owner's notice state (of one receiver when given), by key."""
        ...

    async def save_owner(
        self,
        record: OwnerRecord,
        drafts: Sequence[MessageDraft] = (),
        *,
        lease: Lease | None = None,
    ) -> list[OutboxMessage]:
        """Queue ``drafts`` and write ``record``, in one transaction; the queued messages.
        A record without items is kept until :meth:`prune` (its address may still be
        needed to deliver a queued message). Fenced by ``lease`` at ``record.updated_at``."""
        ...

    async def digest_runs(self) -> dict[str, datetime]:
        """When each digest last ran (was sent or had its first start recorded)."""
        ...

    async def record_digest_run(
        self, name: str, at: datetime, *, lease: Lease | None = None
    ) -> None:
        """Remember that digest ``name`` ran at ``at`` (fenced by ``lease`` at ``at``)."""
        ...


class SharedState(Protocol):
    """What the instances sharing one store coordinate through: leases, instance
    heartbeats, the request budget ledger and the sweepers' memo."""

    async def acquire_lease(
        self,
        source: str,
        owner: str,
        now: datetime,
        ttl: timedelta,
        *,
        replacing: str | None = None,
    ) -> Lease | None:
        """Take or renew ``source``'s lease for ``owner`` until ``now + ttl``; None while
        another owner holds it. Renewing a live lease keeps its epoch; taking a free or
        lapsed one (even one's own) starts the next epoch. ``replacing``: an owner known
        to be dead (a crashed process on this host), whose live lease is taken at once."""
        ...

    async def renew_lease(self, lease: Lease, now: datetime, ttl: timedelta) -> Lease | None:
        """Extend a lease that still holds at ``now``; None when it was lost or lapsed."""
        ...

    async def release_lease(self, lease: Lease, now: datetime) -> bool:
        """Give a lease up at ``now`` (so another instance may take it at once); False
        when it was no longer held."""
        ...

    async def leases(self) -> list[Lease]:
        """Every source's lease row (live or lapsed), by source."""
        ...

    async def heartbeat(self, owner: str, now: datetime, ttl: timedelta) -> list[str]:
        """Say ``owner`` is alive until ``now + ttl``; the names of every instance alive
        at ``now`` (``owner`` included), sorted."""
        ...

    async def leave(self, owner: str, now: datetime) -> None:
        """Say ``owner`` stopped, so its share of the sources goes to the others at once."""
        ...

    async def spend_budget(
        self, source: str, now: datetime, want: int, per_hour: int
    ) -> int:
        """Take up to ``want`` requests from ``source``'s hourly budget at ``now``; how
        many were granted (0 when the last hour already spent ``per_hour``). Shared by
        every process using this store."""
        ...

    async def budget_spent(self, source: str, now: datetime) -> int:
        """Requests counted against ``source`` in the hour up to ``now``."""
        ...

    async def load_memo(self, source: str) -> dict[str, str]:
        """The sweeper's memo of ``source``: key -> value text."""
        ...

    async def save_memo(
        self,
        source: str,
        entries: Mapping[str, str | None],
        at: datetime,
        *,
        lease: Lease | None = None,
    ) -> None:
        """Upsert memo entries (a None value deletes the key), fenced by ``lease``."""
        ...


class Housekeeping(Protocol):
    """Forgetting old history."""

    async def prune(self, before: datetime) -> dict[str, int]:
        """Forget transitions, sweeps, delivered messages, ended silences and owners with
        nothing failing, older than ``before``; how many rows of each went. Alerts, dead
        letters and the actions audit are kept."""
        ...


class Store(
    AlertStore, OutboxStore, SilenceStore, OwnerStore, SharedState, Housekeeping, Protocol
):
    """Everything the daemon persists: one role protocol per concern (a stage may ask
    for the one role it uses). Every method may raise StoreError.

    Opening and closing are not part of it: they belong to whoever opened the store
    (:func:`monitor.store.open_store`'s :class:`~monitor.store.sql.SqlStore`), never to
    the stages it is handed to.
    """
