"""The one schema definition, for SQLite and PostgreSQL alike (SQLAlchemy Core).

The migrations in ``monitor/store/migrations/versions`` create and change these tables;
this module describes their current shape for the queries in :mod:`monitor.store.sql`.
A change here goes with a new migration, and ``tests/store/test_schema.py`` (run against
both backends) checks that the two agree.

Timestamps are ISO-8601 UTC text of fixed width (:func:`monitor.store.codec.ts`), so text
order is time order on every backend and no driver converts time zones behind our back.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
)
from sqlalchemy import Float as Real

metadata = MetaData()

#: Row ids: 64-bit on PostgreSQL, SQLite's INTEGER PRIMARY KEY (the rowid) on SQLite.
RowId = BigInteger().with_variant(Integer(), "sqlite")

alerts = Table(
    "alerts",
    metadata,
    Column("fingerprint", Text, primary_key=True),
    Column("source", Text, nullable=False),
    Column("rule_id", Text, nullable=False),
    Column("device_id", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("body", Text, nullable=False),
    Index("alerts_by_device", "source", "device_id"),
)

sweeps = Table(
    "sweeps",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("source", Text, nullable=False),
    Column("started_at", Text, nullable=False),
    Column("finished_at", Text, nullable=False),
    Column("ok", Integer, nullable=False),
    Column("devices", Integer, nullable=False),
    Column("requests", Integer, nullable=False),
    Column("errors", Integer, nullable=False),
    Column("findings", Integer, nullable=False),
    Column("error", Text, nullable=False),
    Column("budget_remaining", Real),
    Column("transitions", Integer, nullable=False),
    Column("firing", Integer, nullable=False),
    # Who wrote the row, under which lease epoch (0003; None without a lease).
    Column("instance", Text),
    Column("epoch", BigInteger),
    Index("sweeps_by_source", "source", "id"),
    sqlite_autoincrement=True,
)

alert_history = Table(
    "alert_history",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("sweep_id", RowId, ForeignKey("sweeps.id")),
    Column("fingerprint", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("device_id", Text, nullable=False),
    Column("rule_id", Text, nullable=False),
    Column("previous", Text),
    Column("current", Text, nullable=False),
    Column("at", Text, nullable=False),
    Column("alert", Text, nullable=False),
    Index("history_by_fingerprint", "fingerprint", "id"),
    Index("history_by_device", "source", "device_id", "id"),
    Index("history_by_time", "at"),
    sqlite_autoincrement=True,
)

known_rules = Table(
    "known_rules",
    metadata,
    Column("source", Text, primary_key=True),
    Column("rule_id", Text, primary_key=True),
    Column("first_seen", Text, nullable=False),
)

notification_log = Table(
    "notification_log",
    metadata,
    Column("group_key", Text, primary_key=True),
    Column("receiver", Text, nullable=False),
    Column("route", Text, nullable=False),
    Column("labels", Text, nullable=False),
    Column("firing", Text, nullable=False),
    Column("sent_at", Text),
    Column("updated_at", Text, nullable=False),
    Column("reason", Text),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("group_key", Text, nullable=False),
    Column("receiver", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("body_format", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Text, nullable=False),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("delivered_at", Text),
    Column("firing", Integer, nullable=False, server_default="0"),
    Column("resolved", Integer, nullable=False, server_default="0"),
    # Who is delivering it right now, and until when that claim holds (0002).
    Column("claimed_by", Text),
    Column("claim_expires_at", Text),
    # The highest severity among the alerts a message announces, "" if none (0005).
    Column("severity", Text, nullable=False, server_default=""),
    Index("outbox_queue", "state", "group_key", "id"),
    sqlite_autoincrement=True,
)

silences = Table(
    "silences",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("matchers", Text, nullable=False),
    Column("starts_at", Text, nullable=False),
    Column("ends_at", Text, nullable=False),
    Column("comment", Text, nullable=False),
    Column("author", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    sqlite_autoincrement=True,
)

actions = Table(
    "actions",
    metadata,
    Column("id", RowId, primary_key=True, autoincrement=True),
    Column("action", Text, nullable=False),
    Column("device", Text, nullable=False),
    Column("who", Text, nullable=False),
    Column("at", Text, nullable=False),
    Column("result", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Index("actions_by_device", "device", "id"),
    sqlite_autoincrement=True,
)

# ------------------------------------------------------------------ 0002: shared state

leases = Table(
    "leases",
    metadata,
    Column("source", Text, primary_key=True),
    Column("owner", Text, nullable=False),
    Column("epoch", BigInteger, nullable=False),
    Column("acquired_at", Text, nullable=False),
    Column("expires_at", Text, nullable=False),
)

budget_sources = Table(
    "budget_sources",
    metadata,
    # One row per source: the row every spender of that source's budget locks first.
    Column("source", Text, primary_key=True),
)

budget_ledger = Table(
    "budget_ledger",
    metadata,
    Column("source", Text, primary_key=True),
    # Whole seconds since the epoch (UTC) of the requests counted in this row.
    Column("second", BigInteger, primary_key=True),
    Column("spent", Integer, nullable=False),
)

source_memo = Table(
    "source_memo",
    metadata,
    Column("source", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
)

# ------------------------------------------------------------------ 0003: instances

instances = Table(
    "instances",
    metadata,
    Column("name", Text, primary_key=True),
    Column("started_at", Text, nullable=False),
    Column("seen_at", Text, nullable=False),
    Column("expires_at", Text, nullable=False),
)

# ------------------------------------------------------------------ 0004: owners, digests

owner_notices = Table(
    "owner_notices",
    metadata,
    # One row per owner and owner receiver (key: receiver:owner-id); body is JSON (the
    # items, the per-day count and the window already used).
    Column("key", Text, primary_key=True),
    Column("receiver", Text, nullable=False),
    Column("address", Text, nullable=False),
    Column("open_items", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
)

digest_runs = Table(
    "digest_runs",
    metadata,
    Column("name", Text, primary_key=True),
    Column("last_run", Text, nullable=False),
)
