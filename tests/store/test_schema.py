"""The migrations build exactly the schema :mod:`monitor.store.schema` describes, on both
backends: every table, column (type, nullability, server default), index and foreign key."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from monitor.store import open_store, store_url
from monitor.store.schema import metadata


def _default_text(sql: str | None) -> str | None:
    """A server default as SQL text without what backends add: outer parentheses, a
    ``::type`` cast, the quotes (SQLite reflects ``''`` as ``('')``, PostgreSQL as
    ``''::text``; a metadata ``"0"`` renders as ``'0'`` and reflects as ``0``)."""
    if sql is None:
        return None
    text = sql.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    return re.sub(r"::[a-z ]+$", "", text).strip("'")


def _defaults_differ(
    _context: Any, _reflected: Any, _described: Any,
    reflected_default: str | None, _default: Any, rendered_default: str | None,
) -> bool:
    return _default_text(reflected_default) != _default_text(rendered_default)


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "compare_server_default": _defaults_differ},
    )
    diffs = compare_metadata(context, metadata)
    # Alembic's own bookkeeping table is the only one schema.py does not describe.
    return [d for d in diffs if not (d[0] == "remove_table" and d[1].name == "alembic_version")]


async def test_the_migrated_schema_is_the_one_schema_py_describes(target: str) -> None:
    async with open_store(target):
        pass
    engine = create_async_engine(store_url(target)[0])
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == [], differences


async def test_sqlite_numbers_rows_where_schema_py_says(tmp_path: Path) -> None:
    """SQLite's AUTOINCREMENT (ids never reused), which the comparison above ignores."""
    path = tmp_path / "m.db"
    async with open_store(path):
        pass
    with sqlite3.connect(path) as db:
        ddl = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
    numbered = {name for name, sql in ddl.items() if "AUTOINCREMENT" in sql}
    described = {
        t.name for t in metadata.sorted_tables if t.dialect_kwargs.get("sqlite_autoincrement")
    }
    assert numbered == described
    assert described  # the comparison compares something


async def test_a_difference_would_be_seen() -> None:
    """The comparison is not vacuous: an empty database lacks every table."""
    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(_differences)
    finally:
        await engine.dispose()
    assert {d[1].name for d in differences if d[0] == "add_table"} == set(metadata.tables)
