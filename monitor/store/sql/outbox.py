"""The notification log, the outbox and its delivery claims on SQL.

A message is queued together with the log entry that explains it, in one transaction
(:meth:`SqlOutbox.enqueue`). Only the oldest pending message of a group is ever due, so
a receiver never hears "resolved" before the "firing" it resolves. Several instances
claim due messages before sending them (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the
write lock on SQLite); a claim lapses after its time-out, and marking a message
delivered or failed can be made to require that the claim is still held.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import RowMapping, ScalarSelect, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from monitor.errors import StoreError
from monitor.models import NotifyReason
from monitor.store.base import OutboxStore
from monitor.store.codec import dumps, loads, parse_ts, parse_ts_or_none, ts, ts_or_none
from monitor.store.records import (
    BodyFormat,
    DeliveryFailure,
    Lease,
    MessageDraft,
    NotificationLogEntry,
    OutboxMessage,
    OutboxState,
)
from monitor.store.schema import notification_log, outbox
from monitor.store.sql.core import SqlCore, dialect_insert, locked_row, where_given


class SqlOutbox(SqlCore, OutboxStore):
    """What each group was told, and the messages queued to tell it."""

    async def notification_log(self, group_key: str) -> NotificationLogEntry | None:
        rows = await self._fetchall(
            "notification log",
            select(notification_log).where(notification_log.c.group_key == group_key),
        )
        return _log_entry(rows[0]) if rows else None

    async def notification_logs(self) -> dict[str, NotificationLogEntry]:
        rows = await self._fetchall("notification log", select(notification_log))
        entries = (_log_entry(r) for r in rows)
        return {e.group_key: e for e in entries}

    async def update_notification_log(
        self, entry: NotificationLogEntry, *, lease: Lease | None = None
    ) -> None:
        dialect = self._dialect
        async with self._write("update notification log") as conn:
            if lease is not None:
                await self._check_lease(conn, lease, entry.updated_at)
            await _put_log(conn, dialect, entry)

    async def enqueue(
        self, draft: MessageDraft, entry: NotificationLogEntry, *, lease: Lease | None = None
    ) -> OutboxMessage:
        if draft.group_key != entry.group_key:
            raise ValueError("the message and the log entry belong to different groups")
        dialect = self._dialect
        async with self._write("enqueue") as conn:
            if lease is not None:
                await self._check_lease(conn, lease, draft.created_at)
            message = await insert_message(conn, draft)
            await _put_log(conn, dialect, entry)
        return message

    @staticmethod
    def _heads_due(now: datetime) -> Any:
        """The oldest pending message of each group whose next attempt is due at ``now``.

        A later message of a group waits behind an earlier one still being retried, so
        a receiver never hears "resolved" before the "firing" it resolves.
        """
        return select(outbox).where(
            outbox.c.state == OutboxState.PENDING.value,
            outbox.c.next_attempt_at <= ts(now),
            outbox.c.id == _group_head(),
        )

    async def due(self, now: datetime, limit: int = 100) -> list[OutboxMessage]:
        rows = await self._fetchall(
            "due messages", self._heads_due(now).order_by(outbox.c.id).limit(limit)
        )
        return [_outbox_message(r) for r in rows]

    async def claim_due(
        self, now: datetime, owner: str, ttl: timedelta, limit: int = 100
    ) -> list[OutboxMessage]:
        now_s = ts(now)
        stmt = (
            self._heads_due(now)
            .where(or_(outbox.c.claimed_by.is_(None), outbox.c.claim_expires_at <= now_s))
            .order_by(outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=outbox)
        )
        async with self._write("claim due messages") as conn:
            rows = list((await conn.execute(stmt)).mappings().all())
            if rows:
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id.in_([r["id"] for r in rows]))
                    .values(claimed_by=owner, claim_expires_at=ts(now + ttl))
                )
        return [_outbox_message(r) for r in rows]

    async def release_claims(self, owner: str) -> int:
        async with self._write("release claims") as conn:
            result = await conn.execute(
                update(outbox)
                .where(outbox.c.claimed_by == owner)
                .values(claimed_by=None, claim_expires_at=None)
            )
            return int(result.rowcount)

    async def next_attempt_at(self) -> datetime | None:
        rows = await self._fetchall(
            "next attempt",
            select(func.min(outbox.c.next_attempt_at).label("t")).where(
                outbox.c.state == OutboxState.PENDING.value, outbox.c.id == _group_head()
            ),
        )
        return parse_ts_or_none(rows[0]["t"]) if rows else None

    async def mark_delivered(
        self, message_id: int, delivered_at: datetime, *, claimed_by: str | None = None
    ) -> bool:
        stmt = update(outbox).where(outbox.c.id == message_id)
        if claimed_by is not None:
            stmt = stmt.where(outbox.c.claimed_by == claimed_by)
        async with self._write("mark delivered") as conn:
            result = await conn.execute(
                stmt.values(
                    state=OutboxState.DELIVERED.value, delivered_at=ts(delivered_at),
                    attempts=outbox.c.attempts + 1, last_error="", claimed_by=None,
                    claim_expires_at=None,
                )
            )
            return int(result.rowcount) > 0

    async def mark_failed(
        self, message_id: int, failure: DeliveryFailure, *, claimed_by: str | None = None
    ) -> OutboxMessage:
        async with self._write("mark failed") as conn:
            row = await locked_row(conn, outbox, outbox.c.id == message_id)
            if row is None:
                raise StoreError(f"store: no outbox message {message_id}")
            if claimed_by is not None and row["claimed_by"] != claimed_by:
                return _outbox_message(row)
            attempts = int(row["attempts"]) + 1
            dead = attempts >= failure.max_attempts
            state = OutboxState.DEAD if dead else OutboxState.PENDING
            when = failure.failed_at if dead else max(failure.next_attempt_at, failure.failed_at)
            updated = (
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id == message_id)
                    .values(
                        attempts=attempts, state=state.value, next_attempt_at=ts(when),
                        last_error=failure.error[:2000], claimed_by=None, claim_expires_at=None,
                    )
                    .returning(*outbox.c)
                )
            ).mappings().one()
        return _outbox_message(updated)

    async def requeue(self, message_id: int, now: datetime) -> bool:
        async with self._write("requeue") as conn:
            result = await conn.execute(
                update(outbox)
                .where(outbox.c.id == message_id, outbox.c.state == OutboxState.DEAD.value)
                .values(state=OutboxState.PENDING.value, attempts=0, next_attempt_at=ts(now),
                        claimed_by=None, claim_expires_at=None)
            )
            return int(result.rowcount) > 0

    async def dead_letters(self, limit: int = 100) -> list[OutboxMessage]:
        rows = await self._fetchall(
            "dead letters",
            select(outbox)
            .where(outbox.c.state == OutboxState.DEAD.value)
            .order_by(outbox.c.id.desc())
            .limit(limit),
        )
        return [_outbox_message(r) for r in rows]

    async def outbox(
        self, *, group_key: str | None = None, state: OutboxState | None = None, limit: int = 500
    ) -> list[OutboxMessage]:
        stmt = where_given(
            select(outbox),
            (outbox.c.group_key, group_key),
            (outbox.c.state, None if state is None else state.value),
        )
        rows = await self._fetchall("outbox", stmt.order_by(outbox.c.id).limit(limit))
        return [_outbox_message(r) for r in rows]

    async def outbox_counts(self) -> dict[OutboxState, int]:
        rows = await self._fetchall(
            "outbox counts",
            select(outbox.c.state, func.count().label("n")).group_by(outbox.c.state),
        )
        counts = dict.fromkeys(OutboxState, 0)
        for r in rows:
            counts[OutboxState(r["state"])] = int(r["n"])
        return counts


async def insert_message(conn: AsyncConnection, draft: MessageDraft) -> OutboxMessage:
    message_id = int(
        (
            await conn.execute(
                insert(outbox)
                .values(
                    group_key=draft.group_key, receiver=draft.receiver,
                    reason=draft.reason.value, title=draft.title, body=draft.body,
                    body_format=draft.body_format, created_at=ts(draft.created_at),
                    state=OutboxState.PENDING.value, attempts=0,
                    next_attempt_at=ts(draft.created_at), firing=draft.firing,
                    resolved=draft.resolved, severity=draft.severity,
                )
                .returning(outbox.c.id)
            )
        ).scalar_one()
    )
    return OutboxMessage.queued(draft, message_id)


def _log_entry(r: RowMapping) -> NotificationLogEntry:
    labels = loads(r["labels"])
    firing: Iterable[str] = loads(r["firing"])
    return NotificationLogEntry(
        group_key=r["group_key"],
        receiver=r["receiver"],
        route=r["route"],
        labels={str(k): str(v) for k, v in labels.items()},
        firing=frozenset(str(fp) for fp in firing),
        sent_at=parse_ts_or_none(r["sent_at"]),
        updated_at=parse_ts(r["updated_at"]),
        reason=None if r["reason"] is None else NotifyReason(r["reason"]),
    )


async def _put_log(conn: AsyncConnection, dialect: str, entry: NotificationLogEntry) -> None:
    values = {
        "group_key": entry.group_key, "receiver": entry.receiver, "route": entry.route,
        "labels": dumps(dict(entry.labels)), "firing": dumps(sorted(entry.firing)),
        "sent_at": ts_or_none(entry.sent_at), "updated_at": ts(entry.updated_at),
        "reason": None if entry.reason is None else entry.reason.value,
    }
    ins = dialect_insert(dialect, notification_log).values(**values)
    await conn.execute(
        ins.on_conflict_do_update(
            index_elements=[notification_log.c.group_key],
            set_={k: ins.excluded[k] for k in values if k != "group_key"},
        )
    )


def _outbox_message(r: RowMapping) -> OutboxMessage:
    return OutboxMessage(
        id=int(r["id"]),
        group_key=r["group_key"],
        receiver=r["receiver"],
        reason=NotifyReason(r["reason"]),
        title=r["title"],
        body=r["body"],
        body_format=cast(BodyFormat, r["body_format"]),
        created_at=parse_ts(r["created_at"]),
        state=OutboxState(r["state"]),
        attempts=int(r["attempts"]),
        next_attempt_at=parse_ts(r["next_attempt_at"]),
        last_error=r["last_error"],
        delivered_at=parse_ts_or_none(r["delivered_at"]),
        firing=int(r["firing"]),
        resolved=int(r["resolved"]),
        severity=str(r["severity"] or ""),
    )


def _group_head() -> ScalarSelect[int]:
    """The id of the oldest pending message in the group of the outbox row at hand
    (a scalar subquery correlated with ``outbox``)."""
    p = outbox.alias("p")
    return (
        select(func.min(p.c.id))
        .where(p.c.state == OutboxState.PENDING.value, p.c.group_key == outbox.c.group_key)
        .scalar_subquery()
    )
