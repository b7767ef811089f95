"""The store on SQLAlchemy Core: one implementation for SQLite and PostgreSQL.

Open one through :func:`monitor.store.open_store`; the URL picks the backend.

SQLite (the embedded default): one file in WAL mode and one connection per process; an
:class:`asyncio.Lock` serialises the operations on it so a transaction is never
interleaved with another coroutine's statements. Writes begin with ``BEGIN IMMEDIATE``,
so another process on the same file (a second daemon, ``compliance-monitor status``)
waits for the write lock instead of failing half-way, and every read-then-write below
(a lease taken, a message claimed, budget spent) is atomic between processes.

PostgreSQL (several instances): a small connection pool, ``READ COMMITTED``; the
read-then-write operations lock the rows they decide on (``FOR UPDATE``, and ``SKIP
LOCKED`` when claiming outbox messages), and a fenced write locks its lease row
``FOR SHARE`` so a takeover waits for it or it sees the takeover.

The schema comes from :mod:`monitor.store.schema` and the migrations run on open
(:mod:`monitor.store.migrate`). SQL lives only in this package.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from sqlalchemy import (
    URL,
    RowMapping,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from monitor.alerts import StepResult
from monitor.errors import StoreError
from monitor.models import Alert, AlertState, NotifyReason, SweepStats, Transition
from monitor.store import migrate
from monitor.store.codec import (
    alert_from_dict,
    alert_to_dict,
    dumps,
    loads,
    parse_ts,
    parse_ts_or_none,
    ts,
    ts_or_none,
)
from monitor.store.records import (
    ActionRecord,
    AlertHistoryEntry,
    BodyFormat,
    Lease,
    Matcher,
    MatchOp,
    MessageDraft,
    NotificationLogEntry,
    OutboxMessage,
    OutboxState,
    OwnerItemNotice,
    OwnerRecord,
    SilenceRecord,
    SweepRecord,
)
from monitor.store.schema import (
    actions,
    alert_history,
    alerts,
    budget_ledger,
    budget_sources,
    digest_runs,
    instances,
    known_rules,
    leases,
    metadata,
    notification_log,
    outbox,
    owner_notices,
    silences,
    source_memo,
    sweeps,
)
from monitor.store.sql.core import Backend, SqlCore, describe, dialect_insert

log = structlog.get_logger(__name__)

HOUR_SECONDS = 3600
_COPY_CHUNK = 1000


class SqlStore(SqlCore):
    """The :class:`~monitor.store.base.Store` on SQLite or PostgreSQL.

    Built by :func:`monitor.store.open_store`; use as ``async with open_store(url) as
    store: ...`` or call :meth:`open` and :meth:`close`. ``display`` names the database
    in logs and errors and never holds a password.
    """

    @asynccontextmanager
    async def scratch(self) -> AsyncIterator[None]:
        """Work on a throwaway in-memory SQLite copy of the store inside the block.

        Every read and write made through this store inside the block goes to the copy;
        on exit the copy is dropped and the database is exactly as it was (a dry run
        commits its sweep, renders its messages and changes nothing). An SQLite file is
        copied with SQLite's backup API; a PostgreSQL database table by table, in one
        read transaction (a consistent snapshot). Nothing is written to, or locked in,
        the real database, so running instances are not disturbed.
        """
        original = self._live()
        if self._scratch_of is not None:
            raise StoreError("store: already working on a scratch copy")
        copy = self._new_backend(URL.create("sqlite+aiosqlite", database=":memory:"))
        try:
            if original.dialect == "sqlite":
                await _backup_sqlite(original, copy)
            else:
                await self._migrate(copy)
                await _copy_rows(original, copy)
        except (SQLAlchemyError, OSError) as exc:
            await copy.engine.dispose()
            raise StoreError(f"store: scratch copy: {describe(exc)}") from exc
        except BaseException:
            await copy.engine.dispose()
            raise
        self._backend, self._scratch_of = copy, original
        log.debug("store.scratch_started", store=self._display)
        try:
            yield
        finally:
            if self._backend is copy:  # not closed meanwhile
                self._backend, self._scratch_of = self._scratch_of, None
            await copy.engine.dispose()
            log.debug("store.scratch_dropped", store=self._display)

    async def schema_revision(self) -> str | None:
        """The migration revision the database is at."""
        async with self._read("schema revision") as conn:
            return await conn.run_sync(migrate.current_revision)

    async def copy_into(self, target: SqlStore) -> dict[str, int]:
        """Copy every row of this store into ``target`` (an empty store of any backend);
        rows per table. Refuses a target that already holds alerts, sweeps or messages."""
        source_backend, target_backend = self._live(), target._live()
        async with target._read("check target") as conn:
            for table in (alerts, sweeps, outbox, silences):
                if (await conn.execute(select(func.count()).select_from(table))).scalar():
                    raise StoreError(
                        f"store: {target.url} already holds {table.name}; copy into an "
                        "empty store"
                    )
        try:
            return await _copy_rows(source_backend, target_backend)
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(f"store: copy into {target.url}: {describe(exc)}") from exc

    # ----------------------------------------------------------------- alerts, sweeps

    async def load_alerts(self, source: str | None = None) -> dict[str, Alert]:
        """Every stored alert (of one source when given), by fingerprint."""
        stmt = select(alerts.c.body)
        if source is not None:
            stmt = stmt.where(alerts.c.source == source)
        rows = await self._fetchall("load alerts", stmt)
        loaded = (alert_from_dict(loads(row["body"])) for row in rows)
        return {a.fingerprint: a for a in loaded}

    async def known_rules(self, source: str) -> frozenset[str]:
        """The rule ids ever evaluated for ``source``."""
        rows = await self._fetchall(
            "known rules", select(known_rules.c.rule_id).where(known_rules.c.source == source)
        )
        return frozenset(str(r["rule_id"]) for r in rows)

    async def commit_sweep(
        self, stats: SweepStats, result: StepResult, *, lease: Lease | None = None
    ) -> int:
        """Alert rows, transitions, known rules and the sweep row, in one transaction."""
        if result.source != stats.source:
            raise ValueError(f"sweep of {stats.source!r} with a step of {result.source!r}")
        if lease is not None and lease.source != stats.source:
            raise ValueError(f"sweep of {stats.source!r} under the lease of {lease.source!r}")
        dialect = self._dialect
        async with self._write("commit sweep") as conn:
            if lease is not None:
                await self._check_lease(conn, lease, stats.finished_at)
            sweep_id = int(
                (
                    await conn.execute(
                        insert(sweeps)
                        .values(
                            source=stats.source, started_at=ts(stats.started_at),
                            finished_at=ts(stats.finished_at), ok=int(stats.ok),
                            devices=stats.devices, requests=stats.requests,
                            errors=stats.errors, findings=stats.findings, error=stats.error,
                            budget_remaining=stats.budget_remaining,
                            transitions=len(result.transitions), firing=result.firing,
                            instance=None if lease is None else lease.owner,
                            epoch=None if lease is None else lease.epoch,
                        )
                        .returning(sweeps.c.id)
                    )
                ).scalar_one()
            )
            if result.changed:
                ins = dialect_insert(dialect, alerts)
                upsert = ins.on_conflict_do_update(
                    index_elements=[alerts.c.fingerprint],
                    set_={c: ins.excluded[c] for c in
                          ("source", "rule_id", "device_id", "state", "body")},
                )
                await conn.execute(upsert, [_alert_row(a) for a in result.changed.values()])
            if result.deleted:
                await conn.execute(
                    delete(alerts).where(alerts.c.fingerprint == bindparam("fp")),
                    [{"fp": fp} for fp in result.deleted],
                )
            if result.transitions:
                await conn.execute(
                    insert(alert_history),
                    [
                        {
                            "sweep_id": sweep_id, "fingerprint": t.fingerprint,
                            "source": t.alert.finding.source,
                            "device_id": t.alert.finding.device_id, "rule_id": t.alert.rule_id,
                            "previous": None if t.previous is None else t.previous.value,
                            "current": t.current.value, "at": ts(t.at),
                            "alert": dumps(alert_to_dict(t.alert)),
                        }
                        for t in result.transitions
                    ],
                )
            if result.evaluated_rules:
                await conn.execute(
                    dialect_insert(dialect, known_rules).on_conflict_do_nothing(),
                    [
                        {"source": stats.source, "rule_id": r,
                         "first_seen": ts(stats.finished_at)}
                        for r in sorted(result.evaluated_rules)
                    ],
                )
        log.debug(
            "store.sweep_committed", source=stats.source, sweep_id=sweep_id,
            changed=len(result.changed), deleted=len(result.deleted),
            transitions=len(result.transitions),
        )
        return sweep_id

    async def sweeps(self, source: str | None = None, limit: int = 50) -> list[SweepRecord]:
        """The latest sweeps, newest first."""
        stmt = select(sweeps)
        if source is not None:
            stmt = stmt.where(sweeps.c.source == source)
        rows = await self._fetchall("sweeps", stmt.order_by(sweeps.c.id.desc()).limit(limit))
        return [_sweep_record(r) for r in rows]

    async def alert_history(
        self,
        *,
        fingerprint: str | None = None,
        device_id: str | None = None,
        source: str | None = None,
        limit: int = 200,
    ) -> list[AlertHistoryEntry]:
        """Stored transitions, newest first, filtered by fingerprint/device/source."""
        h = alert_history.c
        stmt = select(h.id, h.previous, h.current, h.at, h.alert)
        for column, value in ((h.fingerprint, fingerprint), (h.device_id, device_id),
                              (h.source, source)):
            if value is not None:
                stmt = stmt.where(column == value)
        rows = await self._fetchall("alert history", stmt.order_by(h.id.desc()).limit(limit))
        return [_history_entry(r) for r in rows]

    # ----------------------------------------------------------------- notification log

    async def notification_log(self, group_key: str) -> NotificationLogEntry | None:
        """What one group was last told, or None."""
        rows = await self._fetchall(
            "notification log",
            select(notification_log).where(notification_log.c.group_key == group_key),
        )
        return _log_entry(rows[0]) if rows else None

    async def notification_logs(self) -> dict[str, NotificationLogEntry]:
        """Every group's log entry, by group key."""
        rows = await self._fetchall("notification log", select(notification_log))
        entries = (_log_entry(r) for r in rows)
        return {e.group_key: e for e in entries}

    async def update_notification_log(
        self, entry: NotificationLogEntry, *, lease: Lease | None = None
    ) -> None:
        """Replace a group's log entry without queuing a message (fenced by ``lease``)."""
        dialect = self._dialect
        async with self._write("update notification log") as conn:
            if lease is not None:
                await self._check_lease(conn, lease, entry.updated_at)
            await _put_log(conn, dialect, entry)

    # ----------------------------------------------------------------- outbox

    async def enqueue(
        self, draft: MessageDraft, entry: NotificationLogEntry, *, lease: Lease | None = None
    ) -> OutboxMessage:
        """Queue a message and record its log entry, in one transaction."""
        if draft.group_key != entry.group_key:
            raise ValueError("the message and the log entry belong to different groups")
        dialect = self._dialect
        async with self._write("enqueue") as conn:
            if lease is not None:
                await self._check_lease(conn, lease, draft.created_at)
            message = await _insert_message(conn, draft)
            await _put_log(conn, dialect, entry)
        return message

    @staticmethod
    def _heads_due(now: datetime) -> Any:
        """The oldest pending message of each group whose next attempt is due at ``now``.

        A later message of a group waits behind an earlier one still being retried, so
        a receiver never hears "resolved" before the "firing" it resolves.
        """
        p = outbox.alias("p")
        head = (
            select(func.min(p.c.id))
            .where(p.c.state == OutboxState.PENDING.value, p.c.group_key == outbox.c.group_key)
            .scalar_subquery()
        )
        return select(outbox).where(
            outbox.c.state == OutboxState.PENDING.value,
            outbox.c.next_attempt_at <= ts(now),
            outbox.c.id == head,
        )

    async def due(self, now: datetime, limit: int = 100) -> list[OutboxMessage]:
        """The oldest pending message of each group, when its next attempt is due."""
        rows = await self._fetchall(
            "due messages", self._heads_due(now).order_by(outbox.c.id).limit(limit)
        )
        return [_outbox_message(r) for r in rows]

    async def claim_due(
        self, now: datetime, owner: str, ttl: timedelta, limit: int = 100
    ) -> list[OutboxMessage]:
        """Claim the due heads of groups that no live claim holds, for ``owner``."""
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
        """Drop every claim ``owner`` holds; how many were dropped."""
        async with self._write("release claims") as conn:
            result = await conn.execute(
                update(outbox)
                .where(outbox.c.claimed_by == owner)
                .values(claimed_by=None, claim_expires_at=None)
            )
            return int(result.rowcount)

    async def next_attempt_at(self) -> datetime | None:
        """When the next delivery attempt is due (heads of groups only); None when idle."""
        p = outbox.alias("p")
        head = (
            select(func.min(p.c.id))
            .where(p.c.state == OutboxState.PENDING.value, p.c.group_key == outbox.c.group_key)
            .scalar_subquery()
        )
        rows = await self._fetchall(
            "next attempt",
            select(func.min(outbox.c.next_attempt_at).label("t")).where(
                outbox.c.state == OutboxState.PENDING.value, outbox.c.id == head
            ),
        )
        return parse_ts_or_none(rows[0]["t"]) if rows else None

    async def mark_delivered(
        self, message_id: int, delivered_at: datetime, *, claimed_by: str | None = None
    ) -> bool:
        """Record a successful delivery and drop its claim; False when ``claimed_by`` no
        longer held it (another instance took the message over)."""
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
        self,
        message_id: int,
        *,
        error: str,
        failed_at: datetime,
        next_attempt_at: datetime,
        max_attempts: int,
        claimed_by: str | None = None,
    ) -> OutboxMessage:
        """Record a failed attempt; dead-letter the message once ``max_attempts`` are spent.

        A dead letter is never attempted again, so its ``next_attempt_at`` records when
        it was given up on (``failed_at``) instead. With ``claimed_by``, a message whose
        claim another instance has taken is returned unchanged.
        """
        async with self._write("mark failed") as conn:
            row = (
                await conn.execute(
                    select(outbox).where(outbox.c.id == message_id).with_for_update()
                )
            ).mappings().first()
            if row is None:
                raise StoreError(f"store: no outbox message {message_id}")
            if claimed_by is not None and row["claimed_by"] != claimed_by:
                return _outbox_message(row)
            attempts = int(row["attempts"]) + 1
            state = OutboxState.DEAD if attempts >= max_attempts else OutboxState.PENDING
            when = failed_at if state is OutboxState.DEAD else max(next_attempt_at, failed_at)
            updated = (
                await conn.execute(
                    update(outbox)
                    .where(outbox.c.id == message_id)
                    .values(
                        attempts=attempts, state=state.value, next_attempt_at=ts(when),
                        last_error=error[:2000], claimed_by=None, claim_expires_at=None,
                    )
                    .returning(*outbox.c)
                )
            ).mappings().one()
        return _outbox_message(updated)

    async def requeue(self, message_id: int, now: datetime) -> bool:
        """Give a dead letter a fresh set of attempts; False if no such dead letter."""
        async with self._write("requeue") as conn:
            result = await conn.execute(
                update(outbox)
                .where(outbox.c.id == message_id, outbox.c.state == OutboxState.DEAD.value)
                .values(state=OutboxState.PENDING.value, attempts=0, next_attempt_at=ts(now),
                        claimed_by=None, claim_expires_at=None)
            )
            return int(result.rowcount) > 0

    async def dead_letters(self, limit: int = 100) -> list[OutboxMessage]:
        """Messages given up on, newest first."""
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
        """Outbox messages in queue order, optionally filtered."""
        stmt = select(outbox)
        if group_key is not None:
            stmt = stmt.where(outbox.c.group_key == group_key)
        if state is not None:
            stmt = stmt.where(outbox.c.state == state.value)
        rows = await self._fetchall("outbox", stmt.order_by(outbox.c.id).limit(limit))
        return [_outbox_message(r) for r in rows]

    async def outbox_counts(self) -> dict[OutboxState, int]:
        """How many messages are in each state (every state present, zero when empty)."""
        rows = await self._fetchall(
            "outbox counts",
            select(outbox.c.state, func.count().label("n")).group_by(outbox.c.state),
        )
        counts = dict.fromkeys(OutboxState, 0)
        for r in rows:
            counts[OutboxState(r["state"])] = int(r["n"])
        return counts

    # ----------------------------------------------------------------- silences

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
        """Store a silence; every instance's pipeline picks it up on its next evaluation."""
        if not matchers:
            raise ValueError("a silence needs at least one matcher")
        if ends_at <= starts_at:
            raise ValueError("a silence must end after it starts")
        async with self._write("add silence") as conn:
            silence_id = int(
                (
                    await conn.execute(
                        insert(silences)
                        .values(
                            matchers=dumps([{"name": m.name, "op": m.op, "value": m.value}
                                            for m in matchers]),
                            starts_at=ts(starts_at), ends_at=ts(ends_at), comment=comment,
                            author=author, created_at=ts(created_at),
                        )
                        .returning(silences.c.id)
                    )
                ).scalar_one()
            )
        return SilenceRecord(silence_id, matchers, starts_at, ends_at, comment, author, created_at)

    async def silences(
        self, now: datetime | None = None, *, include_expired: bool = False
    ) -> list[SilenceRecord]:
        """Stored silences, oldest first; without include_expired, those not ended at ``now``."""
        stmt = select(silences)
        if not include_expired and now is not None:
            stmt = stmt.where(silences.c.ends_at > ts(now))
        rows = await self._fetchall("silences", stmt.order_by(silences.c.id))
        return [_silence(r) for r in rows]

    async def expire_silence(self, silence_id: int, now: datetime) -> bool:
        """End a silence now; False if it does not exist or has already ended."""
        async with self._write("expire silence") as conn:
            result = await conn.execute(
                update(silences)
                .where(silences.c.id == silence_id, silences.c.ends_at > ts(now))
                .values(ends_at=ts(now))
            )
            return int(result.rowcount) > 0

    # ----------------------------------------------------------------- actions audit

    async def record_action(
        self, action: str, device: str, who: str, at: datetime, result: str, detail: str = ""
    ) -> int:
        """Append an audit entry for a remediation action; its id."""
        async with self._write("record action") as conn:
            return int(
                (
                    await conn.execute(
                        insert(actions)
                        .values(action=action, device=device, who=who, at=ts(at),
                                result=result, detail=detail)
                        .returning(actions.c.id)
                    )
                ).scalar_one()
            )

    async def actions(
        self, *, device: str | None = None, since: datetime | None = None, limit: int = 200
    ) -> list[ActionRecord]:
        """Audit entries, newest first."""
        stmt = select(actions)
        if device is not None:
            stmt = stmt.where(actions.c.device == device)
        if since is not None:
            stmt = stmt.where(actions.c.at >= ts(since))
        rows = await self._fetchall("actions", stmt.order_by(actions.c.id.desc()).limit(limit))
        return [
            ActionRecord(
                id=int(r["id"]), action=r["action"], device=r["device"], who=r["who"],
                at=parse_ts(r["at"]), result=r["result"], detail=r["detail"],
            )
            for r in rows
        ]

    # ----------------------------------------------------------------- leases

    async def acquire_lease(
        self,
        source: str,
        owner: str,
        now: datetime,
        ttl: timedelta,
        *,
        replacing: str | None = None,
    ) -> Lease | None:
        """Take or renew ``source``'s lease for ``owner``; None while another holds it.
        ``replacing``: an owner known to be dead, whose live lease may be taken at once."""
        if ttl <= timedelta(0):
            raise ValueError("a lease needs a positive time to live")
        dialect = self._dialect
        async with self._write("acquire lease") as conn:
            row = (
                await conn.execute(
                    select(leases).where(leases.c.source == source).with_for_update()
                )
            ).mappings().first()
            if row is None:
                lease = Lease(source, owner, 1, now, now + ttl)
                result = await conn.execute(
                    dialect_insert(dialect, leases)
                    .values(source=source, owner=owner, epoch=1, acquired_at=ts(now),
                            expires_at=ts(now + ttl))
                    .on_conflict_do_nothing()
                )
                # Another instance inserted the row first (PostgreSQL): theirs.
                return lease if int(result.rowcount) == 1 else None
            live = row["expires_at"] > ts(now)
            if live and replacing is not None and row["owner"] == replacing:
                live = False  # its holder is known to be dead: the lease is free
            if live and row["owner"] != owner:
                return None
            if live:  # a renewal: same epoch, same start
                lease = Lease(source, owner, int(row["epoch"]), parse_ts(row["acquired_at"]),
                              now + ttl)
            else:  # free or lapsed: the next epoch, which fences the previous holder
                lease = Lease(source, owner, int(row["epoch"]) + 1, now, now + ttl)
            await conn.execute(
                update(leases)
                .where(leases.c.source == source)
                .values(owner=owner, epoch=lease.epoch, acquired_at=ts(lease.acquired_at),
                        expires_at=ts(lease.expires_at))
            )
        if lease.epoch != int(row["epoch"]):
            log.info("store.lease_taken", source=source, owner=owner, epoch=lease.epoch,
                     previous_owner=row["owner"])
        return lease

    async def renew_lease(self, lease: Lease, now: datetime, ttl: timedelta) -> Lease | None:
        """Extend a lease that still holds at ``now``; None when it was lost or lapsed."""
        async with self._write("renew lease") as conn:
            result = await conn.execute(
                update(leases)
                .where(
                    leases.c.source == lease.source,
                    leases.c.owner == lease.owner,
                    leases.c.epoch == lease.epoch,
                    leases.c.expires_at > ts(now),
                )
                .values(expires_at=ts(now + ttl))
            )
            renewed = int(result.rowcount) == 1
        if not renewed:
            return None
        return Lease(lease.source, lease.owner, lease.epoch, lease.acquired_at, now + ttl)

    async def release_lease(self, lease: Lease, now: datetime) -> bool:
        """Give a lease up at ``now``; False when it was no longer held."""
        async with self._write("release lease") as conn:
            result = await conn.execute(
                update(leases)
                .where(
                    leases.c.source == lease.source,
                    leases.c.owner == lease.owner,
                    leases.c.epoch == lease.epoch,
                    leases.c.expires_at > ts(now),
                )
                .values(expires_at=ts(now))
            )
            return int(result.rowcount) == 1

    async def leases(self) -> list[Lease]:
        """Every source's lease row (live or lapsed), by source."""
        rows = await self._fetchall("leases", select(leases).order_by(leases.c.source))
        return [
            Lease(r["source"], r["owner"], int(r["epoch"]), parse_ts(r["acquired_at"]),
                  parse_ts(r["expires_at"]))
            for r in rows
        ]

    async def heartbeat(self, owner: str, now: datetime, ttl: timedelta) -> list[str]:
        """Say ``owner`` is alive until ``now + ttl``; every instance alive at ``now``."""
        dialect = self._dialect
        async with self._write("heartbeat") as conn:
            ins = dialect_insert(dialect, instances).values(
                name=owner, started_at=ts(now), seen_at=ts(now), expires_at=ts(now + ttl)
            )
            await conn.execute(
                ins.on_conflict_do_update(
                    index_elements=[instances.c.name],
                    set_={"seen_at": ins.excluded.seen_at,
                          "expires_at": ins.excluded.expires_at},
                )
            )
            await conn.execute(
                delete(instances).where(instances.c.expires_at < ts(now - timedelta(days=1)))
            )
            rows = (
                await conn.execute(
                    select(instances.c.name)
                    .where(instances.c.expires_at > ts(now))
                    .order_by(instances.c.name)
                )
            ).all()
        return [str(r[0]) for r in rows]

    async def leave(self, owner: str, now: datetime) -> None:
        """Say ``owner`` stopped (its share goes to the others at once)."""
        async with self._write("leave") as conn:
            await conn.execute(
                update(instances).where(instances.c.name == owner).values(expires_at=ts(now))
            )

    # ----------------------------------------------------------------- request budget

    async def spend_budget(self, source: str, now: datetime, want: int, per_hour: int) -> int:
        """Take up to ``want`` requests from ``source``'s hourly budget; how many granted.

        The ledger counts requests per whole second. A second's requests count for the
        3,600 seconds that follow it in full (the window is rounded outwards), so in any
        hour at most ``per_hour`` requests are granted, whichever processes asked.
        """
        if want < 0 or per_hour < 0:
            raise ValueError("a budget spend needs want >= 0 and per_hour >= 0")
        second = int(now.timestamp())
        horizon = second - HOUR_SECONDS
        dialect = self._dialect
        async with self._write("spend budget") as conn:
            # Serialise the spenders of this source: they all lock its row first.
            await conn.execute(
                dialect_insert(dialect, budget_sources)
                .values(source=source)
                .on_conflict_do_nothing()
            )
            await conn.execute(
                select(budget_sources.c.source)
                .where(budget_sources.c.source == source)
                .with_for_update()
            )
            await conn.execute(
                delete(budget_ledger).where(
                    budget_ledger.c.source == source, budget_ledger.c.second < horizon
                )
            )
            spent = int(
                (
                    await conn.execute(
                        select(func.coalesce(func.sum(budget_ledger.c.spent), 0)).where(
                            budget_ledger.c.source == source, budget_ledger.c.second >= horizon
                        )
                    )
                ).scalar_one()
            )
            granted = max(0, min(want, per_hour - spent))
            if granted:
                ins = dialect_insert(dialect, budget_ledger).values(
                    source=source, second=second, spent=granted
                )
                await conn.execute(
                    ins.on_conflict_do_update(
                        index_elements=[budget_ledger.c.source, budget_ledger.c.second],
                        set_={"spent": budget_ledger.c.spent + ins.excluded.spent},
                    )
                )
        return granted

    async def budget_spent(self, source: str, now: datetime) -> int:
        """Requests counted against ``source`` in the hour up to ``now``."""
        horizon = int(now.timestamp()) - HOUR_SECONDS
        rows = await self._fetchall(
            "budget spent",
            select(func.coalesce(func.sum(budget_ledger.c.spent), 0).label("n")).where(
                budget_ledger.c.source == source, budget_ledger.c.second >= horizon
            ),
        )
        return int(rows[0]["n"])

    # ----------------------------------------------------------------- sweeper memo

    async def load_memo(self, source: str) -> dict[str, str]:
        """The sweeper's memo of ``source``: key -> value text."""
        rows = await self._fetchall(
            "load memo",
            select(source_memo.c.key, source_memo.c.value).where(source_memo.c.source == source),
        )
        return {r["key"]: r["value"] for r in rows}

    async def save_memo(
        self,
        source: str,
        entries: Mapping[str, str | None],
        at: datetime,
        *,
        lease: Lease | None = None,
    ) -> None:
        """Upsert memo entries (a None value deletes the key), fenced by ``lease``."""
        if lease is not None and lease.source != source:
            raise ValueError(f"memo of {source!r} under the lease of {lease.source!r}")
        dialect = self._dialect
        put = [{"source": source, "key": k, "value": v, "updated_at": ts(at)}
               for k, v in entries.items() if v is not None]
        gone = [{"k": k} for k, v in entries.items() if v is None]
        async with self._write("save memo") as conn:
            if lease is not None:
                await self._check_lease(conn, lease, at)
            if put:
                ins = dialect_insert(dialect, source_memo)
                await conn.execute(
                    ins.on_conflict_do_update(
                        index_elements=[source_memo.c.source, source_memo.c.key],
                        set_={"value": ins.excluded.value, "updated_at": ins.excluded.updated_at},
                    ),
                    put,
                )
            if gone:
                await conn.execute(
                    delete(source_memo).where(
                        source_memo.c.source == source, source_memo.c.key == bindparam("k")
                    ),
                    gone,
                )

    # ----------------------------------------------------------------- owners, digests

    async def owner_records(self, receiver: str | None = None) -> dict[str, OwnerRecord]:
        """Every owner's notice state (of one receiver when given), by key."""
        stmt = select(owner_notices)
        if receiver is not None:
            stmt = stmt.where(owner_notices.c.receiver == receiver)
        rows = await self._fetchall("owner notices", stmt)
        return {r["key"]: _owner_record(r) for r in rows}

    async def save_owner(
        self,
        record: OwnerRecord,
        drafts: Sequence[MessageDraft] = (),
        *,
        lease: Lease | None = None,
    ) -> list[OutboxMessage]:
        """Queue ``drafts`` and write ``record``, in one transaction; the queued messages.
        A record without items stays (a queued message still finds its address) until
        :meth:`prune` forgets it. Fenced by ``lease`` at ``record.updated_at``."""
        dialect = self._dialect
        values = {
            "key": record.key, "receiver": record.receiver, "address": record.address,
            "open_items": len(record.items), "body": dumps(_owner_body(record)),
            "updated_at": ts(record.updated_at),
        }
        async with self._write("save owner") as conn:
            if lease is not None:
                await self._check_lease(conn, lease, record.updated_at)
            queued = [await _insert_message(conn, d) for d in drafts]
            ins = dialect_insert(dialect, owner_notices).values(**values)
            await conn.execute(
                ins.on_conflict_do_update(
                    index_elements=[owner_notices.c.key],
                    set_={k: ins.excluded[k] for k in values if k != "key"},
                )
            )
        return queued

    async def digest_runs(self) -> dict[str, datetime]:
        """When each digest last ran."""
        rows = await self._fetchall("digest runs", select(digest_runs))
        return {r["name"]: parse_ts(r["last_run"]) for r in rows}

    async def record_digest_run(
        self, name: str, at: datetime, *, lease: Lease | None = None
    ) -> None:
        """Remember that digest ``name`` ran at ``at`` (fenced by ``lease`` at ``at``)."""
        dialect = self._dialect
        async with self._write("record digest run") as conn:
            if lease is not None:
                await self._check_lease(conn, lease, at)
            ins = dialect_insert(dialect, digest_runs).values(name=name, last_run=ts(at))
            await conn.execute(
                ins.on_conflict_do_update(
                    index_elements=[digest_runs.c.name],
                    set_={"last_run": ins.excluded.last_run},
                )
            )

    async def transitions_since(
        self, since: datetime, limit: int = 100_000
    ) -> list[AlertHistoryEntry]:
        """Stored transitions at or after ``since``, oldest first (at most ``limit``)."""
        h = alert_history.c
        rows = await self._fetchall(
            "transitions since",
            select(h.id, h.previous, h.current, h.at, h.alert)
            .where(h.at >= ts(since))
            .order_by(h.at, h.id)
            .limit(limit),
        )
        return [_history_entry(r) for r in rows]

    # ----------------------------------------------------------------- housekeeping

    async def prune(self, before: datetime) -> dict[str, int]:
        """Forget history older than ``before``: transitions, sweeps, delivered messages,
        ended silences and owners with nothing failing. Alerts, dead letters and the
        actions audit are kept."""
        cutoff = ts(before)
        referenced = select(alert_history.c.sweep_id).where(alert_history.c.sweep_id.is_not(None))
        statements: Sequence[tuple[str, Any]] = (
            ("history", delete(alert_history).where(alert_history.c.at < cutoff)),
            ("sweeps", delete(sweeps).where(sweeps.c.finished_at < cutoff,
                                            sweeps.c.id.not_in(referenced))),
            ("delivered", delete(outbox).where(outbox.c.state == OutboxState.DELIVERED.value,
                                               outbox.c.delivered_at < cutoff)),
            ("silences", delete(silences).where(silences.c.ends_at < cutoff)),
            ("owners", delete(owner_notices).where(owner_notices.c.open_items == 0,
                                                   owner_notices.c.updated_at < cutoff)),
        )
        counts: dict[str, int] = {}
        async with self._write("prune") as conn:
            for name, stmt in statements:
                counts[name] = int((await conn.execute(stmt)).rowcount)
        log.info("store.pruned", before=cutoff, **counts)
        return counts


# --------------------------------------------------------------------- copies


async def _backup_sqlite(source: Backend, target: Backend) -> None:
    """Copy an SQLite database into another with SQLite's online backup API."""
    async with source.gate, source.engine.connect() as src, target.engine.connect() as dst:
        src_raw = (await src.get_raw_connection()).driver_connection
        dst_raw = (await dst.get_raw_connection()).driver_connection
        assert src_raw is not None
        assert dst_raw is not None
        await src_raw.backup(dst_raw)


async def _copy_rows(source: Backend, target: Backend) -> dict[str, int]:
    """Copy every table's rows (parents first) in one read snapshot and one write
    transaction; on PostgreSQL, move the id sequences past the copied ids."""
    counts: dict[str, int] = {}
    async with source.gate, target.gate, source.engine.connect() as src:
        if source.dialect == "postgresql":
            await src.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        async with target.engine.connect() as dst:
            await dst.execution_options(cm_write=True)
            async with dst.begin():
                for table in metadata.sorted_tables:
                    counts[table.name] = 0
                    result = await src.stream(select(table))
                    async for chunk in result.mappings().partitions(_COPY_CHUNK):
                        await dst.execute(insert(table), [dict(r) for r in chunk])
                        counts[table.name] += len(chunk)
                    if target.dialect == "postgresql" and "id" in table.c:
                        next_id = select(func.coalesce(func.max(table.c.id), 0) + 1)
                        await dst.execute(
                            select(
                                func.setval(
                                    func.pg_get_serial_sequence(table.name, "id"),
                                    next_id.scalar_subquery(),
                                    False,
                                )
                            )
                        )
    return counts


# --------------------------------------------------------------------- row mapping


def _alert_row(alert: Alert) -> dict[str, str]:
    f = alert.finding
    return {
        "fingerprint": alert.fingerprint, "source": f.source, "rule_id": f.rule_id,
        "device_id": f.device_id, "state": alert.state.value,
        "body": dumps(alert_to_dict(alert)),
    }


def _history_entry(r: RowMapping) -> AlertHistoryEntry:
    alert = alert_from_dict(loads(r["alert"]))
    previous = None if r["previous"] is None else AlertState(r["previous"])
    transition = Transition(
        alert.fingerprint, previous, AlertState(r["current"]), parse_ts(r["at"]), alert
    )
    return AlertHistoryEntry(id=int(r["id"]), transition=transition)


async def _insert_message(conn: AsyncConnection, draft: MessageDraft) -> OutboxMessage:
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
    return OutboxMessage(
        id=message_id,
        group_key=draft.group_key,
        receiver=draft.receiver,
        reason=draft.reason,
        title=draft.title,
        body=draft.body,
        body_format=draft.body_format,
        created_at=draft.created_at,
        state=OutboxState.PENDING,
        attempts=0,
        next_attempt_at=draft.created_at,
        firing=draft.firing,
        resolved=draft.resolved,
        severity=draft.severity,
    )


def _owner_body(record: OwnerRecord) -> dict[str, Any]:
    return {
        "day": record.day,
        "sent_today": record.sent_today,
        "last_window": record.last_window,
        "items": {
            fp: {
                "first_noticed": ts(n.first_noticed),
                "last_noticed": ts(n.last_noticed),
                "notices": n.notices,
                "escalated_at": ts_or_none(n.escalated_at),
            }
            for fp, n in sorted(record.items.items())
        },
    }


def _owner_record(r: RowMapping) -> OwnerRecord:
    body = loads(r["body"])
    items: Mapping[str, Any] = body.get("items") or {}
    return OwnerRecord(
        key=r["key"],
        receiver=r["receiver"],
        address=r["address"],
        items={
            str(fp): OwnerItemNotice(
                first_noticed=parse_ts(n["first_noticed"]),
                last_noticed=parse_ts(n["last_noticed"]),
                notices=int(n["notices"]),
                escalated_at=parse_ts_or_none(n.get("escalated_at")),
            )
            for fp, n in items.items()
        },
        updated_at=parse_ts(r["updated_at"]),
        day=str(body.get("day", "")),
        sent_today=int(body.get("sent_today", 0)),
        last_window=str(body.get("last_window", "")),
    )


def _sweep_record(r: RowMapping) -> SweepRecord:
    stats = SweepStats(
        source=r["source"],
        started_at=parse_ts(r["started_at"]),
        finished_at=parse_ts(r["finished_at"]),
        ok=bool(r["ok"]),
        devices=int(r["devices"]),
        requests=int(r["requests"]),
        errors=int(r["errors"]),
        findings=int(r["findings"]),
        error=r["error"],
        budget_remaining=r["budget_remaining"],
    )
    return SweepRecord(
        id=int(r["id"]), stats=stats, transitions=int(r["transitions"]), firing=int(r["firing"]),
        instance=r["instance"], epoch=None if r["epoch"] is None else int(r["epoch"]),
    )


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


def _silence(r: RowMapping) -> SilenceRecord:
    matchers = tuple(
        Matcher(name=str(m["name"]), op=cast(MatchOp, m["op"]), value=str(m["value"]))
        for m in loads(r["matchers"])
    )
    return SilenceRecord(
        id=int(r["id"]),
        matchers=matchers,
        starts_at=parse_ts(r["starts_at"]),
        ends_at=parse_ts(r["ends_at"]),
        comment=r["comment"],
        author=r["author"],
        created_at=parse_ts(r["created_at"]),
    )
