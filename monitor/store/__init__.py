"""Persistence behind one protocol (:class:`Store`); SQLite by default.

SQL lives only in this package.
"""

from monitor.store.base import (
    ActionRecord,
    AlertHistoryEntry,
    BodyFormat,
    Matcher,
    MessageDraft,
    NotificationLogEntry,
    OutboxMessage,
    OutboxState,
    SilenceRecord,
    Store,
    SweepRecord,
)
from monitor.store.sqlite import SqliteStore

__all__ = [
    "ActionRecord",
    "AlertHistoryEntry",
    "BodyFormat",
    "Matcher",
    "MessageDraft",
    "NotificationLogEntry",
    "OutboxMessage",
    "OutboxState",
    "SilenceRecord",
    "SqliteStore",
    "Store",
    "SweepRecord",
]
