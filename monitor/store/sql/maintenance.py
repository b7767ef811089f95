"""Working on a copy, copying a store, and pruning old history, on SQL.

:meth:`SqlMaintenance.scratch` swaps in a throwaway in-memory SQLite copy for a dry
run; :meth:`SqlMaintenance.copy_into` moves every row to another store (a migration
between backends); :meth:`SqlMaintenance.prune` forgets what is older than a cut-off.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import URL, delete, func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError

from monitor.errors import StoreError
from monitor.store import migrate
from monitor.store.base import Housekeeping
from monitor.store.codec import ts
from monitor.store.records import OutboxState
from monitor.store.schema import (
    alert_history,
    alerts,
    metadata,
    outbox,
    owner_notices,
    silences,
    sweeps,
)
from monitor.store.sql.core import Backend, SqlCore, describe

log = structlog.get_logger(__name__)

_COPY_CHUNK = 1000


class SqlMaintenance(SqlCore, Housekeeping):
    """Scratch copies, copies into another store, the schema revision and pruning."""

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

    async def copy_into(self, target: SqlCore) -> dict[str, int]:
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

    async def prune(self, before: datetime) -> dict[str, int]:
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
