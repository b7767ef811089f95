"""Persistence behind one protocol (:class:`Store`) and one factory (:func:`open_store`).

SQLite (a file, the embedded default) and PostgreSQL (several instances sharing one
database) are served by one implementation on SQLAlchemy Core with one migration
history; the URL picks the backend. Nothing outside this package names a backend
class or writes SQL.
"""

from __future__ import annotations

import os

from pydantic import SecretStr
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from monitor.config import StoreConfig
from monitor.errors import StoreError
from monitor.log import register_secret
from monitor.store.base import (
    ActionRecord,
    AlertHistoryEntry,
    BodyFormat,
    Lease,
    Matcher,
    MessageDraft,
    NotificationLogEntry,
    OutboxMessage,
    OutboxState,
    SilenceDraft,
    SilenceRecord,
    Store,
    SweepRecord,
)
from monitor.store.sql import SqlStore

__all__ = [
    "ActionRecord",
    "AlertHistoryEntry",
    "BodyFormat",
    "Lease",
    "Matcher",
    "MessageDraft",
    "NotificationLogEntry",
    "OutboxMessage",
    "OutboxState",
    "SilenceDraft",
    "SilenceRecord",
    "SqlStore",
    "Store",
    "SweepRecord",
    "open_store",
    "store_url",
]

_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg",
            "postgres": "postgresql+asyncpg"}


def store_url(target: str | os.PathLike[str] | StoreConfig) -> tuple[URL, str]:
    """The driver URL of a store target and how to show it (password hidden).

    ``target`` is a URL (``sqlite:///file.db``, ``postgresql://user@host/db``), a path
    to an SQLite file (``Path`` or a string without ``://``), or the ``store`` section of
    the config (whose password or password file is merged into the URL).
    """
    password: SecretStr | None = None
    if isinstance(target, StoreConfig):
        password = target.resolve_password()
        file = target.sqlite_file() if target.url is None else None
        raw = str(file) if file is not None else (
            target.url.get_secret_value() if target.url is not None else ""
        )
    else:
        raw = os.fspath(target)
    if "://" not in raw:
        url = URL.create("sqlite+aiosqlite", database=raw)
        return url, raw
    try:
        url = make_url(raw)
    except ArgumentError:
        raise StoreError("the store URL is not a valid URL") from None
    scheme = url.drivername.split("+")[0]
    if scheme not in _DRIVERS:
        raise StoreError(f"the store URL's scheme {scheme!r} is not sqlite or postgresql")
    url = url.set(drivername=_DRIVERS[scheme])
    if password is not None:
        url = url.set(password=password.get_secret_value())
    if url.password:
        # Whatever the path to the password, no log line ever shows it.
        register_secret(str(url.password))
    shown = url.set(drivername=scheme if scheme != "postgres" else "postgresql")
    return url, shown.render_as_string(hide_password=True)


def open_store(target: str | os.PathLike[str] | StoreConfig) -> SqlStore:
    """The store at ``target`` (see :func:`store_url`), not yet opened.

    Open it with ``async with open_store(...) as store:`` or ``await store.open()``;
    opening creates the database's schema or migrates it, and refuses a database
    written by a newer version of this program.
    """
    url, shown = store_url(target)
    return SqlStore(url, shown)



def store_exists(config: StoreConfig) -> bool:
    """Whether there is a store to read (a command that only reads must not create an
    empty SQLite file); a PostgreSQL store is assumed to exist, opening it will tell."""
    file = config.sqlite_file()
    return not config.is_sqlite or file is None or file.exists()


def store_name(config: StoreConfig) -> str:
    """How to name the store of ``config`` to a person (never with a password)."""
    return store_url(config)[1]
