"""Before the daemon starts: can the SQLite store be created, read and written now?

A start that finds the state folder read-only, the database locked by another process or
a file that is not a database must fail within seconds with one clear line, not after a
busy timeout or with a traceback. :func:`check_sqlite` answers in at most ``timeout``
seconds and raises :class:`~monitor.errors.StoreError` saying which of those it is.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

from monitor.errors import StoreError


def check_sqlite(path: Path, *, timeout: float = 1.0) -> None:
    """Raise StoreError unless the database at ``path`` can be opened and written."""
    folder = path.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise StoreError(f"the store's folder {folder}: {existing} is not a folder")
    if existing == folder and not path.exists():
        try:
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            raise StoreError(
                f"the store's folder {folder} is not writable "
                f"({exc.strerror or exc.__class__.__name__})"
            ) from None
    if not path.exists():
        return  # created, with its folder, when the store opens
    try:
        db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"the store at {path} cannot be opened: {exc}") from None
    try:
        db.execute("PRAGMA schema_version").fetchone()
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
    except sqlite3.Error as exc:
        raise StoreError(f"the store at {path} {_why(exc)}") from None
    finally:
        db.close()
    if not os.access(path, os.W_OK):
        raise StoreError(f"the store at {path} is read-only")


def _why(exc: sqlite3.Error) -> str:
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return "is locked by another process (is a second daemon running on it?)"
    if "readonly" in text or "read-only" in text:
        return "is read-only"
    if "not a database" in text or "malformed" in text:
        return "is not a usable SQLite database (corrupt?)"
    return f"cannot be written: {exc}"
