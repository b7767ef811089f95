"""Every test here that takes ``target`` runs against both backends: an SQLite file and
a fresh PostgreSQL database (skipped locally without a server, a failure in CI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.store import SqlStore, open_store
from tests.postgres import PgDatabase


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's store lives: an SQLite file URL or an emptied PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'monitor.db'}"
    db: PgDatabase = request.getfixturevalue("pg_database")
    db.reset()
    return db.url


@pytest.fixture
async def store(target: str) -> AsyncIterator[SqlStore]:
    """An open store on ``target``."""
    async with open_store(target) as s:
        yield s
