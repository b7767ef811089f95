"""Bringing a database's schema to the one this program knows (Alembic, on start).

:func:`upgrade` runs inside the caller's transaction, on a synchronous connection
(``AsyncConnection.run_sync``). It refuses a database whose revision is unknown here,
which means a newer program wrote it: guessing at a newer schema could lose data.

An SQLite file from before the store used Alembic carries a ``schema_version`` table
holding 1 or 2. Version 1's tables are exactly revision 0001's; version 2 adds the owner
notice and digest tables of revision 0004 (which keeps them as they are). Either is
stamped 0001 and upgraded from there.

Alembic (and Mako under it) is loaded only when a migration is due: a database already
at the head, as on every restart, is recognised with one plain query.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

from monitor.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")

#: The key of the PostgreSQL advisory lock that serialises instances migrating at once.
_MIGRATION_LOCK = 7_236_411_001


#: The ``schema_version`` values of files from before Alembic that are understood here.
LEGACY_VERSIONS = (1, 2)

_REVISION = re.compile(r"^(down_revision|revision) = (?:\"(\w+)\"|None)$", re.MULTILINE)


class MigrationError(Exception):
    """Alembic could not carry a migration out (what its ``CommandError`` said)."""


def _config(connection: Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


@cache
def known_head() -> str:
    """The newest revision among the migration files, read from their ``revision`` and
    ``down_revision`` lines: the one no other file names as its parent. Alembic is not
    imported for it (a store already at the head opens without it)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("v*.py"):
        lines: dict[str, str] = dict(_REVISION.findall(path.read_text()))
        revisions.add(lines["revision"])
        parents.add(lines.get("down_revision", ""))
    [head] = revisions - parents
    return head


def head_revision() -> str:
    """The newest revision this program knows, as Alembic reads it."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (None: empty or from before Alembic)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _at_head(connection: Connection) -> bool:
    """True when Alembic's version table holds the head and nothing else (read with
    plain SQL: nothing to migrate, so Alembic need not be loaded)."""
    if not inspect(connection).has_table("alembic_version"):
        return False
    rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
    return list(rows) == [known_head()]


def upgrade(connection: Connection, where: str) -> tuple[str | None, str]:
    """Migrate the database of ``connection`` to the head; (old revision, new revision).

    ``where`` names the database in errors (never with a password). Raises StoreError
    when the database is newer than this program, MigrationError when Alembic fails.
    Alembic is imported only when there is something to migrate.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
    if _at_head(connection):
        return known_head(), known_head()
    from alembic.util import CommandError

    try:
        return _migrate(connection, where)
    except CommandError as exc:
        raise MigrationError(str(exc)) from exc


def _migrate(connection: Connection, where: str) -> tuple[str | None, str]:
    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    script = ScriptDirectory(str(MIGRATIONS))
    current = current_revision(connection)
    if current is not None:
        try:
            script.get_revision(current)
        except CommandError:
            raise StoreError(
                f"the store at {where} has schema revision {current}, newer than this "
                f"program knows (up to {script.get_current_head()}); upgrade the program"
            ) from None
    cfg = _config(connection)
    tables = set(inspect(connection).get_table_names())
    if current is None and "schema_version" in tables:
        version = connection.execute(text("SELECT MAX(version) FROM schema_version")).scalar()
        if version not in LEGACY_VERSIONS:
            raise StoreError(
                f"the store at {where} has schema version {version}, which this program "
                "does not know; upgrade the program"
            )
        command.stamp(cfg, "0001")
        current = "0001"
    head = script.get_current_head()
    assert head is not None
    if current != head:
        command.upgrade(cfg, "head")
    return current, head
