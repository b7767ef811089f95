"""A real PostgreSQL server for tests: one fresh database per test session.

The server is the one on 127.0.0.1:5432 (trust authentication, user ``postgres``; set
``CM_TEST_PG`` to another ``postgresql://user@host:port`` to point elsewhere). Each
test session creates ``cm_test_<random>`` and drops it at the end; each test that asks
for a clean database gets its schema emptied first.

Locally, tests that need the server skip with a one-line reason when none answers.
Under ``CI=true`` (or ``CI=1``) they fail instead: in CI the PostgreSQL run is not
optional.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import asyncpg  # type: ignore[import-untyped]
import pytest

SERVER = os.environ.get("CM_TEST_PG", "postgresql://postgres@127.0.0.1:5432")


def in_ci() -> bool:
    """Whether this run is CI's (where a missing PostgreSQL is a failure)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(f"{SERVER}/postgres", timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _run(sql: str) -> None:
    asyncio.run(_admin(sql))


@dataclass(frozen=True)
class PgDatabase:
    """A database of this test session: its URL and how to empty it."""

    name: str

    @property
    def url(self) -> str:
        return f"{SERVER}/{self.name}"

    def reset(self) -> None:
        """Drop everything in the database (a clean slate for the next test)."""

        async def go() -> None:
            conn = await asyncpg.connect(self.url, timeout=5)
            try:
                await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            finally:
                await conn.close()

        asyncio.run(go())


@contextmanager
def session_database() -> Iterator[PgDatabase]:
    """Create ``cm_test_<random>`` for the session, drop it after; skip (or fail in CI)
    when no server answers."""
    name = f"cm_test_{secrets.token_hex(6)}"
    try:
        _run(f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        reason = f"no PostgreSQL server at {SERVER}: {type(exc).__name__}: {exc}"
        if in_ci():
            pytest.fail(f"{reason} (CI requires it; .ci/run starts it)", pytrace=False)
        pytest.skip(reason)
    try:
        yield PgDatabase(name)
    finally:
        _run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
