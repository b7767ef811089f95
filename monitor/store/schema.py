"""The one schema definition, for SQLite and PostgreSQL alike (SQLAlchemy Core).

The migrations in ``monitor/store/migrations/versions`` create and change these tables;
this module describes their current shape for the queries in :mod:`monitor.store.sql`.
A change here goes with a new migration, and ``tests/store/test_schema.py`` (run against
both backends) checks that the two agree.

Timestamps are ISO-8601 UTC text of fixed width (:func:`monitor.store.codec.ts`), so text
order is time order on every backend and no driver converts time zones behind our back.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, MetaData, Table, Text
from sqlalchemy import Float as Real

from monitor.store.columns import RowId, keys, optional, required, row_id

metadata = MetaData()

alerts = Table(
    "alerts",
    metadata,
    *keys(Text, "fingerprint"),
    *required(Text, "source", "rule_id", "device_id", "state", "body"),
    Index("alerts_by_device", "source", "device_id"),
)

sweeps = Table(
    "sweeps",
    metadata,
    row_id(),
    *required(Text, "source", "started_at", "finished_at"),
    *required(Integer, "ok", "devices", "requests", "errors", "findings"),
    *required(Text, "error"),
    Column("budget_remaining", Real),
    *required(Integer, "transitions", "firing"),
    # Who wrote the row, under which lease epoch (0003; None without a lease).
    Column("instance", Text),
    Column("epoch", BigInteger),
    Index("sweeps_by_source", "source", "id"),
    sqlite_autoincrement=True,
)

alert_history = Table(
    "alert_history",
    metadata,
    row_id(),
    Column("sweep_id", RowId, ForeignKey("sweeps.id")),
    *required(Text, "fingerprint", "source", "device_id", "rule_id"),
    Column("previous", Text),
    *required(Text, "current", "at", "alert"),
    Index("history_by_fingerprint", "fingerprint", "id"),
    Index("history_by_device", "source", "device_id", "id"),
    Index("history_by_time", "at"),
    sqlite_autoincrement=True,
)

known_rules = Table(
    "known_rules",
    metadata,
    *keys(Text, "source", "rule_id"),
    *required(Text, "first_seen"),
)

notification_log = Table(
    "notification_log",
    metadata,
    *keys(Text, "group_key"),
    *required(Text, "receiver", "route", "labels", "firing"),
    Column("sent_at", Text),
    *required(Text, "updated_at"),
    Column("reason", Text),
)

outbox = Table(
    "outbox",
    metadata,
    row_id(),
    *required(Text, "group_key", "receiver", "reason", "title", "body", "body_format",
              "created_at", "state"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    *required(Text, "next_attempt_at"),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("delivered_at", Text),
    Column("firing", Integer, nullable=False, server_default="0"),
    Column("resolved", Integer, nullable=False, server_default="0"),
    # Who is delivering it right now, and until when that claim holds (0002).
    *optional(Text, "claimed_by", "claim_expires_at"),
    # The highest severity among the alerts a message announces, "" if none (0005).
    Column("severity", Text, nullable=False, server_default=""),
    Index("outbox_queue", "state", "group_key", "id"),
    sqlite_autoincrement=True,
)

silences = Table(
    "silences",
    metadata,
    row_id(),
    *required(Text, "matchers", "starts_at", "ends_at", "comment", "author", "created_at"),
    sqlite_autoincrement=True,
)

actions = Table(
    "actions",
    metadata,
    row_id(),
    *required(Text, "action", "device", "who", "at", "result", "detail"),
    Index("actions_by_device", "device", "id"),
    sqlite_autoincrement=True,
)

# ------------------------------------------------------------------ 0002: shared state

leases = Table(
    "leases",
    metadata,
    *keys(Text, "source"),
    *required(Text, "owner"),
    *required(BigInteger, "epoch"),
    *required(Text, "acquired_at", "expires_at"),
)

budget_sources = Table(
    "budget_sources",
    metadata,
    # One row per source: the row every spender of that source's budget locks first.
    *keys(Text, "source"),
)

budget_ledger = Table(
    "budget_ledger",
    metadata,
    *keys(Text, "source"),
    # Whole seconds since the epoch (UTC) of the requests counted in this row.
    *keys(BigInteger, "second"),
    *required(Integer, "spent"),
)

source_memo = Table(
    "source_memo",
    metadata,
    *keys(Text, "source", "key"),
    *required(Text, "value", "updated_at"),
)

# ------------------------------------------------------------------ 0003: instances

instances = Table(
    "instances",
    metadata,
    *keys(Text, "name"),
    *required(Text, "started_at", "seen_at", "expires_at"),
)

# ------------------------------------------------------------------ 0004: owners, digests

owner_notices = Table(
    "owner_notices",
    metadata,
    # One row per owner and owner receiver (key: receiver:owner-id); body is JSON (the
    # items, the per-day count and the window already used).
    *keys(Text, "key"),
    *required(Text, "receiver", "address"),
    *required(Integer, "open_items"),
    *required(Text, "body", "updated_at"),
)

digest_runs = Table(
    "digest_runs",
    metadata,
    *keys(Text, "name"),
    *required(Text, "last_run"),
)
