"""``migrate-store``: an SQLite file's state copied into PostgreSQL, the upgrade path."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from monitor.alerts import step
from monitor.cli import main
from monitor.store import Matcher, SilenceDraft, open_store
from tests.postgres import PgDatabase
from tests.store.helpers import MINIMAL_CONFIG, T0, cov, draft, finding, log_entry, stats

CONFIG = MINIMAL_CONFIG + "store: {url}\n"


async def seed(path: Path) -> None:
    async with open_store(path) as store:
        await store.commit_sweep(stats(), step({}, [finding("d1"), finding("d2")], cov(), T0))
        await store.enqueue(draft("g", 1), log_entry("g", {"x"}))
        await store.add_silence(SilenceDraft(
            (Matcher("device_id", "=", "d1"),), T0, T0.replace(year=2030), "lab", "ana",
            created_at=T0,
        ))


async def read(url: str) -> tuple[int, int, int]:
    async with open_store(url) as store:
        return (len(await store.load_alerts()), len(await store.outbox()),
                len(await store.silences(include_expired=True)))


def test_migrate_store_copies_sqlite_into_postgresql_once(
    tmp_path: Path, pg_database: PgDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    pg_database.reset()
    old = tmp_path / "state" / "monitor.db"
    asyncio.run(seed(old))
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(url=pg_database.url))

    assert main(["migrate-store", "-c", str(config), "--from", f"sqlite:///{old}"]) == 0
    assert "copied" in capsys.readouterr().out
    assert asyncio.run(read(pg_database.url)) == (2, 1, 1)
    # a second run would mix two histories: refused, and the target is unchanged
    assert main(["migrate-store", "-c", str(config), "--from", str(old)]) == 1
    assert "empty store" in capsys.readouterr().err
    assert asyncio.run(read(pg_database.url)) == (2, 1, 1)


def test_migrate_store_from_a_missing_file_fails_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(url="sqlite:///new.db"))
    assert main(["migrate-store", "-c", str(config), "--from", str(tmp_path / "nope.db")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no store at" in err
