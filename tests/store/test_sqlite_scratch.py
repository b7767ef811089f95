"""A scratch copy of an SQLite store: everything written inside the block is dropped,
and the file is left byte for byte as it was."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.alerts import step
from monitor.errors import StoreError
from monitor.models import AlertState
from monitor.store import Matcher, OutboxState, SilenceDraft, open_store
from tests.store.helpers import T0, cov, draft, finding, log_entry, stats


def file_rows(path: Path) -> dict[str, int]:
    """Row counts of the file as another process sees it."""
    with sqlite3.connect(path) as db:
        return {
            table: int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608
            for table in ("alerts", "alert_history", "sweeps", "known_rules", "outbox",
                          "notification_log", "silences", "actions")
        }


async def test_writes_inside_scratch_are_seen_there_and_dropped_after(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    async with open_store(path) as store:
        first = step({}, [finding("d1")], cov(), T0)
        await store.commit_sweep(stats(), first)
        before = file_rows(path)
        before_bytes = path.read_bytes()

        async with store.scratch():
            second = step(await store.load_alerts(), [finding("d1"), finding("d2")], cov(),
                          T0 + timedelta(minutes=5))
            await store.commit_sweep(stats(at=T0 + timedelta(minutes=5)), second)
            await store.enqueue(draft("g", 1), log_entry("g", {"x"}))
            await store.add_silence(SilenceDraft(
                (Matcher("device_id", "=", "d1"),), T0, T0 + timedelta(hours=1), "", "a",
                created_at=T0,
            ))
            await store.record_action("tag", "d1", "me", T0, "dry-run")
            # the block sees its own writes...
            assert len(await store.load_alerts()) == 2
            assert (await store.outbox_counts())[OutboxState.PENDING] == 1
            # ...and nobody else does
            assert file_rows(path) == before

        assert file_rows(path) == before
        assert path.read_bytes() == before_bytes
        alerts = await store.load_alerts()
        assert list(alerts) == [finding("d1").fingerprint]
        assert alerts[finding("d1").fingerprint].state is AlertState.PENDING
        assert await store.outbox() == []
        # and the store is usable as before
        await store.enqueue(draft("g", 2), log_entry("g", {"y"}))
        assert file_rows(path)["outbox"] == 1


async def test_scratch_is_dropped_when_the_block_fails(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    async with open_store(path) as store:
        async def fail_inside() -> None:
            async with store.scratch():
                await store.enqueue(draft("g", 1), log_entry("g", {"x"}))
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await fail_inside()
        assert await store.outbox() == []
        assert file_rows(path)["outbox"] == 0


async def test_scratch_does_not_nest_and_needs_an_open_store(tmp_path: Path) -> None:
    store = open_store(tmp_path / "m.db")
    with pytest.raises(StoreError):
        async with store.scratch():
            pass
    async with store, store.scratch():
        with pytest.raises(StoreError, match="already"):
            async with store.scratch():
                pass


async def test_closing_inside_scratch_closes_both_connections(tmp_path: Path) -> None:
    store = open_store(tmp_path / "m.db")
    await store.open()
    async with store.scratch():
        await store.close()
    with pytest.raises(StoreError):
        await store.load_alerts()
