"""The SQLite store: one file, WAL mode, one connection, versioned schema.

One connection is shared by the whole daemon; an :class:`asyncio.Lock` serialises the
operations on it so a transaction is never interleaved with another coroutine's
statements. Writes use ``BEGIN IMMEDIATE`` so a second process (``compliance-monitor
explain`` while the daemon runs) waits for the write lock instead of failing half-way.

The schema is created and upgraded by the numbered scripts in :data:`MIGRATIONS`; the
``schema_version`` table records the last one applied. A file written by a newer
version is refused rather than guessed at.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

import aiosqlite
import structlog

from monitor.alerts import StepResult
from monitor.errors import StoreError
from monitor.models import Alert, AlertState, NotifyReason, SweepStats, Transition
from monitor.store.base import (
    ActionRecord,
    AlertHistoryEntry,
    BodyFormat,
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

log = structlog.get_logger(__name__)

#: Schema scripts, applied in order; index + 1 is the version each one brings.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE alerts (
            fingerprint TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            rule_id TEXT NOT NULL,
            device_id TEXT NOT NULL,
            state TEXT NOT NULL,
            body TEXT NOT NULL
        )""",
        "CREATE INDEX alerts_by_device ON alerts (source, device_id)",
        """CREATE TABLE sweeps (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            source TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            ok INTEGER NOT NULL,
            devices INTEGER NOT NULL,
            requests INTEGER NOT NULL,
            errors INTEGER NOT NULL,
            findings INTEGER NOT NULL,
            error TEXT NOT NULL,
            budget_remaining REAL,
            transitions INTEGER NOT NULL,
            firing INTEGER NOT NULL
        )""",
        "CREATE INDEX sweeps_by_source ON sweeps (source, id)",
        """CREATE TABLE alert_history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            sweep_id INTEGER REFERENCES sweeps (id),
            fingerprint TEXT NOT NULL,
            source TEXT NOT NULL,
            device_id TEXT NOT NULL,
            rule_id TEXT NOT NULL,
            previous TEXT,
            current TEXT NOT NULL,
            at TEXT NOT NULL,
            alert TEXT NOT NULL
        )""",
        "CREATE INDEX history_by_fingerprint ON alert_history (fingerprint, id)",
        "CREATE INDEX history_by_device ON alert_history (source, device_id, id)",
        """CREATE TABLE known_rules (
            source TEXT NOT NULL,
            rule_id TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            PRIMARY KEY (source, rule_id)
        )""",
        """CREATE TABLE notification_log (
            group_key TEXT PRIMARY KEY,
            receiver TEXT NOT NULL,
            route TEXT NOT NULL,
            labels TEXT NOT NULL,
            firing TEXT NOT NULL,
            sent_at TEXT,
            updated_at TEXT NOT NULL,
            reason TEXT
        )""",
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            group_key TEXT NOT NULL,
            receiver TEXT NOT NULL,
            reason TEXT NOT NULL,
            title TEXT NOT NULL,
            body TEXT NOT NULL,
            body_format TEXT NOT NULL,
            created_at TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT NOT NULL DEFAULT '',
            delivered_at TEXT,
            firing INTEGER NOT NULL DEFAULT 0,
            resolved INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX outbox_queue ON outbox (state, group_key, id)",
        """CREATE TABLE silences (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            matchers TEXT NOT NULL,
            starts_at TEXT NOT NULL,
            ends_at TEXT NOT NULL,
            comment TEXT NOT NULL,
            author TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE actions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            action TEXT NOT NULL,
            device TEXT NOT NULL,
            who TEXT NOT NULL,
            at TEXT NOT NULL,
            result TEXT NOT NULL,
            detail TEXT NOT NULL
        )""",
        "CREATE INDEX actions_by_device ON actions (device, id)",
    ),
    (
        # Owner notices: one row per owner and owner receiver; body is JSON (items).
        """CREATE TABLE owner_notices (
            key TEXT PRIMARY KEY,
            receiver TEXT NOT NULL,
            address TEXT NOT NULL,
            open_items INTEGER NOT NULL,
            body TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE digest_runs (
            name TEXT PRIMARY KEY,
            last_run TEXT NOT NULL
        )""",
        "CREATE INDEX history_by_time ON alert_history (at)",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)

_OUTBOX_COLUMNS = (
    "id, group_key, receiver, reason, title, body, body_format, created_at, state, "
    "attempts, next_attempt_at, last_error, delivered_at, firing, resolved"
)


class SqliteStore:
    """The :class:`~monitor.store.base.Store` on one SQLite file.

    Use as ``async with SqliteStore(path) as store: ...`` or call :meth:`open` and
    :meth:`close`. ``path`` may be ``":memory:"`` for throwaway use.
    """

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        self._db: aiosqlite.Connection | None = None
        # While a scratch copy is in use (see scratch()), the file's own connection.
        self._scratch_of: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SqliteStore({self._path!r})"

    @property
    def path(self) -> str:
        """The database file."""
        return self._path

    # ----------------------------------------------------------------- lifecycle

    async def open(self) -> None:
        """Open the file (creating its folder), switch to WAL and migrate the schema."""
        if self._db is not None:
            return
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        try:
            db = await aiosqlite.connect(self._path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store at {self._path}: {exc}") from exc
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=FULL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=10000")
            db.row_factory = sqlite3.Row
            self._db = db
            await self._migrate()
        except BaseException:
            self._db = None
            await db.close()
            raise

    async def close(self) -> None:
        """Close the connection; safe to call twice."""
        db, self._db = self._db, None
        original, self._scratch_of = self._scratch_of, None
        if db is not None or original is not None:
            async with self._lock:
                for conn in (db, original):
                    if conn is not None:
                        await conn.close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @asynccontextmanager
    async def scratch(self) -> AsyncIterator[None]:
        """Work on a throwaway in-memory copy of the store for the duration of the block.

        Every read and write made through this store inside the block goes to the copy;
        on exit the copy is dropped and the file is exactly as it was (a dry run commits
        its sweep, renders its messages and changes nothing). The copy is taken under
        SQLite's backup API, so a daemon writing the same file meanwhile is not disturbed.
        """
        async with self._lock:
            original = self._conn()
            if self._scratch_of is not None:
                raise StoreError("store: already working on a scratch copy")
            try:
                copy = await aiosqlite.connect(":memory:", isolation_level=None)
            except sqlite3.Error as exc:
                raise StoreError(f"store: scratch copy: {exc}") from exc
            try:
                await original.backup(copy)
                await copy.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as exc:
                await copy.close()
                raise StoreError(f"store: scratch copy: {exc}") from exc
            copy.row_factory = sqlite3.Row
            self._db, self._scratch_of = copy, original
        log.debug("store.scratch_started", path=self._path)
        try:
            yield
        finally:
            async with self._lock:
                if self._db is copy:  # not closed meanwhile
                    self._db, self._scratch_of = self._scratch_of, None
                    await copy.close()
            log.debug("store.scratch_dropped", path=self._path)

    async def schema_version(self) -> int:
        """The schema version of the open file."""
        async with self._read("schema version") as db:
            return await self._version(db)

    async def _migrate(self) -> None:
        async with self._write("migrate") as db:
            await db.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
            )
            version = await self._version(db)
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the store at {self._path} has schema version {version}, newer than "
                    f"this program's {SCHEMA_VERSION}; upgrade the program"
                )
            for number in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[number - 1]:
                    await db.execute(statement)
            if version < SCHEMA_VERSION:
                await db.execute("DELETE FROM schema_version")
                await db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
                log.info("store.migrated", path=self._path, old=version, new=SCHEMA_VERSION)

    @staticmethod
    async def _version(db: aiosqlite.Connection) -> int:
        async with db.execute("SELECT MAX(version) FROM schema_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row is not None and row[0] is not None else 0

    # ----------------------------------------------------------------- plumbing

    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("the store is not open")
        return self._db

    @asynccontextmanager
    async def _write(self, what: str) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction; any SQLite error rolls back and becomes StoreError."""
        async with self._lock:
            db = self._conn()
            try:
                await db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"store: {what}: {exc}") from exc
            try:
                yield db
            except BaseException as exc:
                try:
                    await db.execute("ROLLBACK")
                except sqlite3.Error:
                    log.warning("store.rollback_failed", op=what)
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"store: {what}: {exc}") from exc
                raise
            try:
                await db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"store: {what}: {exc}") from exc

    @asynccontextmanager
    async def _read(self, what: str) -> AsyncIterator[aiosqlite.Connection]:
        """Exclusive use of the connection for reads; SQLite errors become StoreError."""
        async with self._lock:
            db = self._conn()
            try:
                yield db
            except sqlite3.Error as exc:
                raise StoreError(f"store: {what}: {exc}") from exc

    async def _fetchall(
        self, what: str, sql: str, params: Sequence[Any] = ()
    ) -> list[sqlite3.Row]:
        async with self._read(what) as db, db.execute(sql, params) as cur:
            rows = await cur.fetchall()
        return cast(list[sqlite3.Row], list(rows))

    # ----------------------------------------------------------------- alerts, sweeps

    async def load_alerts(self, source: str | None = None) -> dict[str, Alert]:
        """Every stored alert (of one source when given), by fingerprint."""
        if source is None:
            rows = await self._fetchall("load alerts", "SELECT body FROM alerts")
        else:
            rows = await self._fetchall(
                "load alerts", "SELECT body FROM alerts WHERE source = ?", (source,)
            )
        alerts = (alert_from_dict(loads(row["body"])) for row in rows)
        return {a.fingerprint: a for a in alerts}

    async def known_rules(self, source: str) -> frozenset[str]:
        """The rule ids ever evaluated for ``source``."""
        rows = await self._fetchall(
            "known rules", "SELECT rule_id FROM known_rules WHERE source = ?", (source,)
        )
        return frozenset(str(r["rule_id"]) for r in rows)

    async def commit_sweep(self, stats: SweepStats, result: StepResult) -> int:
        """Alert rows, transitions, known rules and the sweep row, in one transaction."""
        if result.source != stats.source:
            raise ValueError(f"sweep of {stats.source!r} with a step of {result.source!r}")
        async with self._write("commit sweep") as db:
            cur = await db.execute(
                "INSERT INTO sweeps (source, started_at, finished_at, ok, devices, requests, "
                "errors, findings, error, budget_remaining, transitions, firing) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    stats.source, ts(stats.started_at), ts(stats.finished_at), int(stats.ok),
                    stats.devices, stats.requests, stats.errors, stats.findings, stats.error,
                    stats.budget_remaining, len(result.transitions), result.firing,
                ),
            )
            sweep_id = cur.lastrowid
            await cur.close()
            assert sweep_id is not None
            await db.executemany(
                "INSERT INTO alerts (fingerprint, source, rule_id, device_id, state, body) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO UPDATE SET "
                "source = excluded.source, rule_id = excluded.rule_id, "
                "device_id = excluded.device_id, state = excluded.state, body = excluded.body",
                [_alert_row(a) for a in result.changed.values()],
            )
            await db.executemany(
                "DELETE FROM alerts WHERE fingerprint = ?", [(fp,) for fp in result.deleted]
            )
            await db.executemany(
                "INSERT INTO alert_history (sweep_id, fingerprint, source, device_id, rule_id, "
                "previous, current, at, alert) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        sweep_id, t.fingerprint, t.alert.finding.source,
                        t.alert.finding.device_id, t.alert.rule_id,
                        None if t.previous is None else t.previous.value, t.current.value,
                        ts(t.at), dumps(alert_to_dict(t.alert)),
                    )
                    for t in result.transitions
                ],
            )
            await db.executemany(
                "INSERT OR IGNORE INTO known_rules (source, rule_id, first_seen) VALUES (?, ?, ?)",
                [(stats.source, r, ts(stats.finished_at)) for r in sorted(result.evaluated_rules)],
            )
        log.debug(
            "store.sweep_committed", source=stats.source, sweep_id=sweep_id,
            changed=len(result.changed), deleted=len(result.deleted),
            transitions=len(result.transitions),
        )
        return sweep_id

    async def sweeps(self, source: str | None = None, limit: int = 50) -> list[SweepRecord]:
        """The latest sweeps, newest first."""
        where, params = ("WHERE source = ?", [source]) if source is not None else ("", [])
        rows = await self._fetchall(
            "sweeps", f"SELECT * FROM sweeps {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
            [*params, limit],
        )
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
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (("fingerprint", fingerprint), ("device_id", device_id),
                              ("source", source)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._fetchall(
            "alert history",
            f"SELECT id, previous, current, at, alert FROM alert_history {where} "  # noqa: S608
            "ORDER BY id DESC LIMIT ?",
            [*params, limit],
        )
        return [_history_entry(r) for r in rows]

    # ----------------------------------------------------------------- notification log

    async def notification_log(self, group_key: str) -> NotificationLogEntry | None:
        """What one group was last told, or None."""
        rows = await self._fetchall(
            "notification log", "SELECT * FROM notification_log WHERE group_key = ?", (group_key,)
        )
        return _log_entry(rows[0]) if rows else None

    async def notification_logs(self) -> dict[str, NotificationLogEntry]:
        """Every group's log entry, by group key."""
        rows = await self._fetchall("notification log", "SELECT * FROM notification_log")
        entries = (_log_entry(r) for r in rows)
        return {e.group_key: e for e in entries}

    async def update_notification_log(self, entry: NotificationLogEntry) -> None:
        """Replace a group's log entry without queuing a message."""
        async with self._write("update notification log") as db:
            await _put_log(db, entry)

    # ----------------------------------------------------------------- outbox

    async def enqueue(self, draft: MessageDraft, entry: NotificationLogEntry) -> OutboxMessage:
        """Queue a message and record its log entry, in one transaction."""
        if draft.group_key != entry.group_key:
            raise ValueError("the message and the log entry belong to different groups")
        async with self._write("enqueue") as db:
            message = await _insert_message(db, draft)
            await _put_log(db, entry)
        return message

    async def due(self, now: datetime, limit: int = 100) -> list[OutboxMessage]:
        """The oldest pending message of each group, when its next attempt is due.

        A later message of a group waits behind an earlier one still being retried, so
        a receiver never hears "resolved" before the "firing" it resolves.
        """
        rows = await self._fetchall(
            "due messages",
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox AS o WHERE o.state = 'pending' "  # noqa: S608
            "AND o.next_attempt_at <= ? AND o.id = (SELECT MIN(p.id) FROM outbox AS p "
            "WHERE p.state = 'pending' AND p.group_key = o.group_key) ORDER BY o.id LIMIT ?",
            (ts(now), limit),
        )
        return [_outbox_message(r) for r in rows]

    async def next_attempt_at(self) -> datetime | None:
        """When the next delivery attempt is due (heads of groups only); None when idle."""
        rows = await self._fetchall(
            "next attempt",
            "SELECT MIN(o.next_attempt_at) AS t FROM outbox AS o WHERE o.state = 'pending' "
            "AND o.id = (SELECT MIN(p.id) FROM outbox AS p "
            "WHERE p.state = 'pending' AND p.group_key = o.group_key)",
        )
        return parse_ts_or_none(rows[0]["t"]) if rows else None

    async def mark_delivered(self, message_id: int, delivered_at: datetime) -> None:
        """Record a successful delivery."""
        async with self._write("mark delivered") as db:
            await db.execute(
                "UPDATE outbox SET state = 'delivered', delivered_at = ?, "
                "attempts = attempts + 1, last_error = '' WHERE id = ?",
                (ts(delivered_at), message_id),
            )

    async def mark_failed(
        self,
        message_id: int,
        *,
        error: str,
        failed_at: datetime,
        next_attempt_at: datetime,
        max_attempts: int,
    ) -> OutboxMessage:
        """Record a failed attempt; dead-letter the message once ``max_attempts`` are spent.

        A dead letter is never attempted again, so its ``next_attempt_at`` records when
        it was given up on (``failed_at``) instead.
        """
        async with self._write("mark failed") as db:
            async with db.execute("SELECT attempts FROM outbox WHERE id = ?", (message_id,)) as c:
                row = await c.fetchone()
            if row is None:
                raise StoreError(f"store: no outbox message {message_id}")
            attempts = int(row["attempts"]) + 1
            state = OutboxState.DEAD if attempts >= max_attempts else OutboxState.PENDING
            when = failed_at if state is OutboxState.DEAD else max(next_attempt_at, failed_at)
            await db.execute(
                "UPDATE outbox SET attempts = ?, state = ?, next_attempt_at = ?, last_error = ? "
                "WHERE id = ?",
                (attempts, state.value, ts(when), error[:2000], message_id),
            )
            async with db.execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE id = ?", (message_id,)  # noqa: S608
            ) as c:
                updated = await c.fetchone()
        assert updated is not None
        return _outbox_message(updated)

    async def requeue(self, message_id: int, now: datetime) -> bool:
        """Give a dead letter a fresh set of attempts; False if no such dead letter."""
        async with self._write("requeue") as db:
            cur = await db.execute(
                "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ? "
                "WHERE id = ? AND state = 'dead'",
                (ts(now), message_id),
            )
            changed = cur.rowcount
            await cur.close()
        return changed > 0

    async def dead_letters(self, limit: int = 100) -> list[OutboxMessage]:
        """Messages given up on, newest first."""
        rows = await self._fetchall(
            "dead letters",
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE state = 'dead' "  # noqa: S608
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [_outbox_message(r) for r in rows]

    async def outbox(
        self, *, group_key: str | None = None, state: OutboxState | None = None, limit: int = 500
    ) -> list[OutboxMessage]:
        """Outbox messages in queue order, optionally filtered."""
        clauses: list[str] = []
        params: list[Any] = []
        if group_key is not None:
            clauses.append("group_key = ?")
            params.append(group_key)
        if state is not None:
            clauses.append("state = ?")
            params.append(state.value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._fetchall(
            "outbox",
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox {where} ORDER BY id LIMIT ?",  # noqa: S608
            [*params, limit],
        )
        return [_outbox_message(r) for r in rows]

    async def outbox_counts(self) -> dict[OutboxState, int]:
        """How many messages are in each state (every state present, zero when empty)."""
        rows = await self._fetchall(
            "outbox counts", "SELECT state, COUNT(*) AS n FROM outbox GROUP BY state"
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
        """Store a silence; the running pipeline picks it up on its next evaluation."""
        if not matchers:
            raise ValueError("a silence needs at least one matcher")
        if ends_at <= starts_at:
            raise ValueError("a silence must end after it starts")
        async with self._write("add silence") as db:
            cur = await db.execute(
                "INSERT INTO silences (matchers, starts_at, ends_at, comment, author, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    dumps([{"name": m.name, "op": m.op, "value": m.value} for m in matchers]),
                    ts(starts_at), ts(ends_at), comment, author, ts(created_at),
                ),
            )
            silence_id = cur.lastrowid
            await cur.close()
        assert silence_id is not None
        return SilenceRecord(silence_id, matchers, starts_at, ends_at, comment, author, created_at)

    async def silences(
        self, now: datetime | None = None, *, include_expired: bool = False
    ) -> list[SilenceRecord]:
        """Stored silences, oldest first; without include_expired, those not ended at ``now``."""
        if include_expired or now is None:
            rows = await self._fetchall("silences", "SELECT * FROM silences ORDER BY id")
        else:
            rows = await self._fetchall(
                "silences", "SELECT * FROM silences WHERE ends_at > ? ORDER BY id", (ts(now),)
            )
        return [_silence(r) for r in rows]

    async def expire_silence(self, silence_id: int, now: datetime) -> bool:
        """End a silence now; False if it does not exist or has already ended."""
        async with self._write("expire silence") as db:
            cur = await db.execute(
                "UPDATE silences SET ends_at = ? WHERE id = ? AND ends_at > ?",
                (ts(now), silence_id, ts(now)),
            )
            changed = cur.rowcount
            await cur.close()
        return changed > 0

    # ----------------------------------------------------------------- actions audit

    async def record_action(
        self, action: str, device: str, who: str, at: datetime, result: str, detail: str = ""
    ) -> int:
        """Append an audit entry for a remediation action; its id."""
        async with self._write("record action") as db:
            cur = await db.execute(
                "INSERT INTO actions (action, device, who, at, result, detail) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (action, device, who, ts(at), result, detail),
            )
            action_id = cur.lastrowid
            await cur.close()
        assert action_id is not None
        return action_id

    async def actions(
        self, *, device: str | None = None, since: datetime | None = None, limit: int = 200
    ) -> list[ActionRecord]:
        """Audit entries, newest first."""
        clauses: list[str] = []
        params: list[Any] = []
        if device is not None:
            clauses.append("device = ?")
            params.append(device)
        if since is not None:
            clauses.append("at >= ?")
            params.append(ts(since))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self._fetchall(
            "actions",
            f"SELECT * FROM actions {where} ORDER BY id DESC LIMIT ?",  # noqa: S608
            [*params, limit],
        )
        return [
            ActionRecord(
                id=int(r["id"]), action=r["action"], device=r["device"], who=r["who"],
                at=parse_ts(r["at"]), result=r["result"], detail=r["detail"],
            )
            for r in rows
        ]

    # ----------------------------------------------------------------- housekeeping

    # ----------------------------------------------------------------- owners, digests

    async def owner_records(self, receiver: str | None = None) -> dict[str, OwnerRecord]:
        """Every owner's notice state (of one receiver when given), by key."""
        sql = "SELECT key, receiver, address, body, updated_at FROM owner_notices"
        params: tuple[str, ...] = ()
        if receiver is not None:
            sql += " WHERE receiver = ?"
            params = (receiver,)
        rows = await self._fetchall("owner notices", sql, params)
        return {r["key"]: _owner_record(r) for r in rows}

    async def save_owner(
        self, record: OwnerRecord, drafts: Sequence[MessageDraft] = ()
    ) -> list[OutboxMessage]:
        """Queue ``drafts`` and write ``record``, in one transaction; the queued messages.
        A record without items stays (a queued message still finds its address) until
        :meth:`prune` forgets it."""
        async with self._write("save owner") as db:
            queued = [await _insert_message(db, d) for d in drafts]
            await db.execute(
                "INSERT INTO owner_notices (key, receiver, address, open_items, body, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                "receiver = excluded.receiver, address = excluded.address, "
                "open_items = excluded.open_items, body = excluded.body, "
                "updated_at = excluded.updated_at",
                (record.key, record.receiver, record.address, len(record.items),
                 dumps(_owner_body(record)), ts(record.updated_at)),
            )
        return queued

    async def digest_runs(self) -> dict[str, datetime]:
        """When each digest last ran."""
        rows = await self._fetchall("digest runs", "SELECT name, last_run FROM digest_runs")
        return {r["name"]: parse_ts(r["last_run"]) for r in rows}

    async def record_digest_run(self, name: str, at: datetime) -> None:
        """Remember that digest ``name`` ran at ``at``."""
        async with self._write("record digest run") as db:
            await db.execute(
                "INSERT INTO digest_runs (name, last_run) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET last_run = excluded.last_run",
                (name, ts(at)),
            )

    async def transitions_since(
        self, since: datetime, limit: int = 100_000
    ) -> list[AlertHistoryEntry]:
        """Stored transitions at or after ``since``, oldest first (at most ``limit``)."""
        rows = await self._fetchall(
            "transitions since",
            "SELECT id, previous, current, at, alert FROM alert_history WHERE at >= ? "
            "ORDER BY at, id LIMIT ?",
            (ts(since), limit),
        )
        return [_history_entry(r) for r in rows]

    async def prune(self, before: datetime) -> dict[str, int]:
        """Forget history older than ``before``: transitions, sweeps, delivered messages,
        ended silences and owners with nothing failing. Alerts, dead letters and the
        actions audit are kept."""
        cutoff = ts(before)
        counts: dict[str, int] = {}
        async with self._write("prune") as db:
            for name, sql in (
                ("history", "DELETE FROM alert_history WHERE at < ?"),
                ("sweeps", "DELETE FROM sweeps WHERE finished_at < ? AND id NOT IN "
                           "(SELECT sweep_id FROM alert_history WHERE sweep_id IS NOT NULL)"),
                ("delivered", "DELETE FROM outbox WHERE state = 'delivered' "
                              "AND delivered_at < ?"),
                ("silences", "DELETE FROM silences WHERE ends_at < ?"),
                ("owners", "DELETE FROM owner_notices WHERE open_items = 0 "
                           "AND updated_at < ?"),
            ):
                cur = await db.execute(sql, (cutoff,))
                counts[name] = cur.rowcount
                await cur.close()
        log.info("store.pruned", before=cutoff, **counts)
        return counts


# --------------------------------------------------------------------- row mapping


def _history_entry(r: sqlite3.Row) -> AlertHistoryEntry:
    alert = alert_from_dict(loads(r["alert"]))
    previous = None if r["previous"] is None else AlertState(r["previous"])
    transition = Transition(
        alert.fingerprint, previous, AlertState(r["current"]), parse_ts(r["at"]), alert
    )
    return AlertHistoryEntry(id=int(r["id"]), transition=transition)


async def _insert_message(db: aiosqlite.Connection, draft: MessageDraft) -> OutboxMessage:
    cur = await db.execute(
        "INSERT INTO outbox (group_key, receiver, reason, title, body, body_format, "
        "created_at, state, attempts, next_attempt_at, firing, resolved) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
        (
            draft.group_key, draft.receiver, draft.reason.value, draft.title, draft.body,
            draft.body_format, ts(draft.created_at), OutboxState.PENDING.value,
            ts(draft.created_at), draft.firing, draft.resolved,
        ),
    )
    message_id = cur.lastrowid
    await cur.close()
    assert message_id is not None
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


def _owner_record(r: sqlite3.Row) -> OwnerRecord:
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


def _alert_row(alert: Alert) -> tuple[str, str, str, str, str, str]:
    f = alert.finding
    return (
        alert.fingerprint, f.source, f.rule_id, f.device_id, alert.state.value,
        dumps(alert_to_dict(alert)),
    )


def _sweep_record(r: sqlite3.Row) -> SweepRecord:
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
        id=int(r["id"]), stats=stats, transitions=int(r["transitions"]), firing=int(r["firing"])
    )


def _log_entry(r: sqlite3.Row) -> NotificationLogEntry:
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


async def _put_log(db: aiosqlite.Connection, entry: NotificationLogEntry) -> None:
    await db.execute(
        "INSERT INTO notification_log (group_key, receiver, route, labels, firing, sent_at, "
        "updated_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (group_key) DO UPDATE "
        "SET receiver = excluded.receiver, route = excluded.route, labels = excluded.labels, "
        "firing = excluded.firing, sent_at = excluded.sent_at, updated_at = excluded.updated_at, "
        "reason = excluded.reason",
        (
            entry.group_key, entry.receiver, entry.route, dumps(dict(entry.labels)),
            dumps(sorted(entry.firing)), ts_or_none(entry.sent_at), ts(entry.updated_at),
            None if entry.reason is None else entry.reason.value,
        ),
    )


def _outbox_message(r: sqlite3.Row) -> OutboxMessage:
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
    )


def _silence(r: sqlite3.Row) -> SilenceRecord:
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
