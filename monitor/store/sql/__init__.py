"""The store on SQLAlchemy Core: one implementation for SQLite and PostgreSQL.

Open one through :func:`monitor.store.open_store`; the URL picks the backend.

SQLite (the embedded default): one file in WAL mode and one connection per process; an
:class:`asyncio.Lock` serialises the operations on it so a transaction is never
interleaved with another coroutine's statements. Writes begin with ``BEGIN IMMEDIATE``,
so another process on the same file (a second daemon, ``compliance-monitor status``)
waits for the write lock instead of failing half-way, and every read-then-write below
(a lease taken, a message claimed, budget spent) is atomic between processes.

PostgreSQL (several instances): a small connection pool, ``READ COMMITTED``; the
read-then-write operations lock the rows they decide on (``FOR UPDATE``, and ``SKIP
LOCKED`` when claiming outbox messages), and a fenced write locks its lease row
``FOR SHARE`` so a takeover waits for it or it sees the takeover.

The schema comes from :mod:`monitor.store.schema` and the migrations run on open
(:mod:`monitor.store.migrate`). SQL lives only in this package.

:class:`SqlStore` is assembled from one part per concern, each a subclass of
:class:`~monitor.store.sql.core.SqlCore` holding the queries of its tables:

- ``core``: the engines, one read or write transaction at a time with driver errors
  translated, the fencing check of a write made under a lease, open/migrate/close;
- ``alerts``: alerts, sweeps, known rules and the alert history (:class:`SqlAlerts`);
- ``outbox``: the notification log, the outbox and its claims (:class:`SqlOutbox`);
- ``silences``: silences and the actions audit (:class:`SqlSilences`);
- ``owners``: owner notices and digest runs (:class:`SqlOwners`);
- ``shared``: leases, instance heartbeats, the request budget ledger and the
  sweepers' memo (:class:`SqlSharedState`);
- ``maintenance``: scratch copies, copies into another store, pruning
  (:class:`SqlMaintenance`).

The parts share no state but what ``SqlCore`` holds and call none of each other's
methods (owner notices queue their messages with the outbox's ``insert_message``);
the row mapping of a table lives next to its queries. :class:`SqlStore` declares that it
implements :class:`~monitor.store.base.Store`, so the type checker holds every part to
the protocol, and each operation is documented once, there (the parts' methods inherit
those docstrings).
"""

from __future__ import annotations

from monitor.store.base import Store
from monitor.store.sql.alerts import SqlAlerts
from monitor.store.sql.maintenance import SqlMaintenance
from monitor.store.sql.outbox import SqlOutbox
from monitor.store.sql.owners import SqlOwners
from monitor.store.sql.shared import SqlSharedState
from monitor.store.sql.silences import SqlSilences

__all__ = ["SqlStore"]


class SqlStore(
    SqlAlerts, SqlOutbox, SqlSilences, SqlOwners, SqlSharedState, SqlMaintenance, Store
):
    """The :class:`~monitor.store.base.Store` on SQLite or PostgreSQL.

    Built by :func:`monitor.store.open_store`; use as ``async with open_store(url) as
    store: ...`` or call :meth:`open` and :meth:`close`. ``display`` names the database
    in logs and errors and never holds a password.
    """
