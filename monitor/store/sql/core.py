"""The plumbing every part of :class:`~monitor.store.sql.SqlStore` stands on.

The engines (one SQLite connection behind a lock, or a PostgreSQL pool), opening with
the migrations and closing, one read or write transaction at a time with driver errors
translated to :class:`~monitor.errors.StoreError`, and the fencing check of a write made
under a lease.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import structlog
from sqlalchemy import (
    URL,
    ColumnElement,
    Connection,
    RowMapping,
    Select,
    Table,
    and_,
    event,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from monitor.errors import StaleLeaseError, StoreError
from monitor.store import migrate
from monitor.store.codec import ts
from monitor.store.records import Lease
from monitor.store.schema import leases

log = structlog.get_logger(__name__)

_ERROR_CHARS = 300

_Query = TypeVar("_Query", bound=Select[Any])


def describe(exc: BaseException) -> str:
    """One line saying what a driver error was, without the statement or its values."""
    inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    first = (str(inner).strip().splitlines() or [type(inner).__name__])[0]
    return first[:_ERROR_CHARS]


@dataclass(slots=True)
class Backend:
    """An engine and the gate its operations pass through (a lock for one connection)."""

    engine: AsyncEngine
    gate: AbstractAsyncContextManager[Any]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


def _sqlite_engine(url: URL) -> AsyncEngine:
    """One connection (WAL, full sync, foreign keys, a busy wait) with explicit BEGINs."""
    engine = create_async_engine(url, poolclass=StaticPool)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own implicit BEGIN is off: _on_begin says which kind we want.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=10000",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("cm_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _postgresql_engine(url: URL) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=4,
        max_overflow=4,
        pool_pre_ping=True,
        pool_timeout=30,
        connect_args={
            "timeout": 10,
            "command_timeout": 60,
            "server_settings": {"application_name": "compliance-monitor"},
        },
    )


def _prepare_sqlite_file(path: Path, display: str) -> None:
    """Create the file's folder; refuse a folder where the file should be."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot open the store at {display}: {exc}") from exc
    if path.is_dir():
        raise StoreError(f"cannot open the store at {display}: it is a folder")


@asynccontextmanager
async def connection(backend: Backend, *, write: bool) -> AsyncIterator[AsyncConnection]:
    """A connection of ``backend``, through its gate; with ``write``, inside one write
    transaction (``BEGIN IMMEDIATE`` on SQLite), committed when the block ends."""
    async with backend.gate, backend.engine.connect() as conn:
        if write:
            await conn.execution_options(cm_write=True)
        async with conn.begin() if write else contextlib.nullcontext():
            yield conn


def lease_holds(lease: Lease, at: datetime) -> ColumnElement[bool]:
    """The condition that ``lease``'s row is still its own (same owner, same epoch) and
    has not expired at ``at``."""
    return and_(
        leases.c.source == lease.source,
        leases.c.owner == lease.owner,
        leases.c.epoch == lease.epoch,
        leases.c.expires_at > ts(at),
    )


def where_given(stmt: _Query, *equal: tuple[ColumnElement[Any], object]) -> _Query:
    """``stmt`` kept to the rows whose column equals the value, for each (column, value)
    whose value is given (a None value keeps every row)."""
    for column, value in equal:
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt


async def locked_row(
    conn: AsyncConnection, table: Table, *where: ColumnElement[bool]
) -> RowMapping | None:
    """The row of ``table`` that ``where`` picks, locked ``FOR UPDATE`` until the
    transaction ends (SQLite's write transaction already excludes other writers)."""
    result = await conn.execute(select(table).where(*where).with_for_update())
    return result.mappings().first()


def dialect_insert(dialect: str, table: Table) -> Any:
    """The dialect's INSERT (which knows ON CONFLICT) for ``table``."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


class SqlCore:
    """Connections, transactions, fencing, open and close: what the store's parts share.

    ``display`` names the database in logs and errors and never holds a password.
    """

    def __init__(self, url: URL, display: str) -> None:
        self._url = url
        self._display = display
        self._backend: Backend | None = None
        # While a scratch copy is in use (see scratch()), the real database's backend.
        self._scratch_of: Backend | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._display!r})"

    @property
    def url(self) -> str:
        """The database, as shown in logs (never with a password)."""
        return self._display

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite file behind this store (None on PostgreSQL or in memory)."""
        database = self._url.database
        if self.backend != "sqlite" or not database or database == ":memory:":
            return None
        return Path(database)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return "postgresql" if self._url.get_backend_name() == "postgresql" else "sqlite"

    def _new_backend(self, url: URL) -> Backend:
        if url.get_backend_name() == "postgresql":
            return Backend(_postgresql_engine(url), contextlib.nullcontext())
        return Backend(_sqlite_engine(url), asyncio.Lock())

    async def open(self) -> None:
        """Connect, and create or migrate the schema to the one this program knows."""
        if self._backend is not None:
            return
        if self.sqlite_file is not None:
            _prepare_sqlite_file(self.sqlite_file, self._display)
        backend = self._new_backend(self._url)
        try:
            old, new = await self._migrate(backend)
        except BaseException:
            await backend.engine.dispose()
            raise
        self._backend = backend
        if old != new:
            log.info("store.migrated", store=self._display, old=old, new=new)

    async def _migrate(self, backend: Backend) -> tuple[str | None, str]:
        try:
            async with connection(backend, write=True) as conn:
                return await conn.run_sync(migrate.upgrade, self._display)
        except (SQLAlchemyError, OSError, migrate.MigrationError) as exc:
            raise StoreError(
                f"cannot open the store at {self._display}: {describe(exc)}"
            ) from exc

    async def close(self) -> None:
        """Close every connection; safe to call twice."""
        backend, self._backend = self._backend, None
        original, self._scratch_of = self._scratch_of, None
        for b in (backend, original):
            if b is not None:
                async with b.gate:
                    await b.engine.dispose()

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

    def _live(self) -> Backend:
        if self._backend is None:
            raise StoreError("the store is not open")
        return self._backend

    @property
    def _dialect(self) -> str:
        return self._live().dialect

    @asynccontextmanager
    async def _connect(self, what: str, *, write: bool) -> AsyncIterator[AsyncConnection]:
        """A connection of the live backend (with ``write``, in one write transaction:
        any error rolls it back); driver errors become StoreError naming ``what``."""
        backend = self._live()
        try:
            async with connection(backend, write=write) as conn:
                yield conn
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(f"store: {what}: {describe(exc)}") from exc

    def _write(self, what: str) -> AbstractAsyncContextManager[AsyncConnection]:
        """One write transaction (see :meth:`_connect`)."""
        return self._connect(what, write=True)

    def _read(self, what: str) -> AbstractAsyncContextManager[AsyncConnection]:
        """A read-only use of a connection (see :meth:`_connect`)."""
        return self._connect(what, write=False)

    async def _fetchall(self, what: str, stmt: Any) -> list[RowMapping]:
        async with self._read(what) as conn:
            result = await conn.execute(stmt)
            return list(result.mappings().all())

    @staticmethod
    async def _check_lease(conn: AsyncConnection, lease: Lease, at: datetime) -> None:
        """Refuse the transaction's write unless ``lease`` is current at ``at``."""
        row = (
            await conn.execute(
                select(leases.c.epoch)
                .where(lease_holds(lease, at))
                .with_for_update(read=True)
            )
        ).first()
        if row is None:
            raise StaleLeaseError(
                f"store: the lease on {lease.source} (epoch {lease.epoch}) is no longer "
                f"held by {lease.owner}; write refused"
            )
