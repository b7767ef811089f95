"""What only the SQLite backend has: a file in WAL mode, its folder created on open, and
files written before the store moved to Alembic (a ``schema_version`` table)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from monitor.errors import StoreError
from monitor.store import OutboxState, open_store
from monitor.store.migrate import head_revision
from tests.store.helpers import T0, draft, log_entry

# The schema of a file written by the release before the store moved to Alembic.
LEGACY_SCHEMA = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (1);
CREATE TABLE alerts (fingerprint TEXT PRIMARY KEY, source TEXT NOT NULL,
    rule_id TEXT NOT NULL, device_id TEXT NOT NULL, state TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX alerts_by_device ON alerts (source, device_id);
CREATE TABLE sweeps (id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL,
    started_at TEXT NOT NULL, finished_at TEXT NOT NULL, ok INTEGER NOT NULL,
    devices INTEGER NOT NULL, requests INTEGER NOT NULL, errors INTEGER NOT NULL,
    findings INTEGER NOT NULL, error TEXT NOT NULL, budget_remaining REAL,
    transitions INTEGER NOT NULL, firing INTEGER NOT NULL);
CREATE INDEX sweeps_by_source ON sweeps (source, id);
CREATE TABLE alert_history (id INTEGER PRIMARY KEY AUTOINCREMENT,
    sweep_id INTEGER REFERENCES sweeps (id), fingerprint TEXT NOT NULL,
    source TEXT NOT NULL, device_id TEXT NOT NULL, rule_id TEXT NOT NULL, previous TEXT,
    current TEXT NOT NULL, at TEXT NOT NULL, alert TEXT NOT NULL);
CREATE INDEX history_by_fingerprint ON alert_history (fingerprint, id);
CREATE INDEX history_by_device ON alert_history (source, device_id, id);
CREATE TABLE known_rules (source TEXT NOT NULL, rule_id TEXT NOT NULL,
    first_seen TEXT NOT NULL, PRIMARY KEY (source, rule_id));
CREATE TABLE notification_log (group_key TEXT PRIMARY KEY, receiver TEXT NOT NULL,
    route TEXT NOT NULL, labels TEXT NOT NULL, firing TEXT NOT NULL, sent_at TEXT,
    updated_at TEXT NOT NULL, reason TEXT);
CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, group_key TEXT NOT NULL,
    receiver TEXT NOT NULL, reason TEXT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL,
    body_format TEXT NOT NULL, created_at TEXT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT NOT NULL,
    last_error TEXT NOT NULL DEFAULT '', delivered_at TEXT,
    firing INTEGER NOT NULL DEFAULT 0, resolved INTEGER NOT NULL DEFAULT 0);
CREATE INDEX outbox_queue ON outbox (state, group_key, id);
CREATE TABLE silences (id INTEGER PRIMARY KEY AUTOINCREMENT, matchers TEXT NOT NULL,
    starts_at TEXT NOT NULL, ends_at TEXT NOT NULL, comment TEXT NOT NULL,
    author TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE actions (id INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT NOT NULL,
    device TEXT NOT NULL, who TEXT NOT NULL, at TEXT NOT NULL, result TEXT NOT NULL,
    detail TEXT NOT NULL);
CREATE INDEX actions_by_device ON actions (device, id);
INSERT INTO outbox (group_key, receiver, reason, title, body, body_format, created_at,
    state, next_attempt_at) VALUES ('g', 'ops', 'first', 't', 'b', 'text',
    '2026-01-05T09:00:00.000000+00:00', 'pending', '2026-01-05T09:00:00.000000+00:00');
"""

# Version 2 of that release added owner-notice state, digest runs and an index.
LEGACY_SCHEMA_2_ADDITIONS = """
UPDATE schema_version SET version = 2;
CREATE TABLE owner_notices (key TEXT PRIMARY KEY, receiver TEXT NOT NULL,
    address TEXT NOT NULL, open_items INTEGER NOT NULL, body TEXT NOT NULL,
    updated_at TEXT NOT NULL);
CREATE TABLE digest_runs (name TEXT PRIMARY KEY, last_run TEXT NOT NULL);
CREATE INDEX history_by_time ON alert_history (at);
INSERT INTO digest_runs VALUES ('weekly', '2026-01-05T09:00:00.000000+00:00');
INSERT INTO owner_notices VALUES ('owners:abc', 'owners', 'jane@example.com', 0,
    '{"items": {}}', '2026-01-05T09:00:00.000000+00:00');
"""
LEGACY_SCHEMA_2 = LEGACY_SCHEMA + LEGACY_SCHEMA_2_ADDITIONS


async def test_file_is_in_wal_mode_in_a_created_folder(tmp_path: Path) -> None:
    path = tmp_path / "state" / "deeper" / "m.db"
    async with open_store(path):
        pass
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreError, match="cannot open the store"):
        async with open_store(tmp_path / "dir.db"):
            pass


async def test_a_file_from_before_alembic_is_stamped_and_upgraded_keeping_its_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as raw:
        raw.executescript(LEGACY_SCHEMA)
    async with open_store(path) as store:
        assert await store.schema_revision() == head_revision()
        [kept] = await store.outbox()
        assert (kept.group_key, kept.state) == ("g", OutboxState.PENDING)
        await store.enqueue(draft("g", 2), log_entry("g", {"x"}))
        assert [m.id for m in await store.due(T0)] == [kept.id]
    with sqlite3.connect(path) as raw:
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
    assert "schema_version" not in tables
    assert {"leases", "budget_ledger", "source_memo"} <= tables


async def test_a_file_with_owner_state_from_before_alembic_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "old2.db"
    with sqlite3.connect(path) as raw:
        raw.executescript(LEGACY_SCHEMA_2)
    async with open_store(path) as store:
        assert await store.schema_revision() == head_revision()
        assert await store.digest_runs() == {"weekly": T0}
        [owner] = (await store.owner_records("owners")).values()
        assert (owner.address, owner.items) == ("jane@example.com", {})
        assert [m.group_key for m in await store.outbox()] == ["g"]
    with sqlite3.connect(path) as raw:
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
    assert "schema_version" not in tables
    assert {"leases", "instances", "history_by_time"} <= tables


async def test_a_file_with_an_unknown_legacy_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "odd.db"
    with sqlite3.connect(path) as raw:
        raw.executescript("CREATE TABLE schema_version (version INTEGER NOT NULL);"
                          "INSERT INTO schema_version VALUES (7);")
    with pytest.raises(StoreError, match="schema version 7"):
        async with open_store(path):
            pass
