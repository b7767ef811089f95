"""Outbox messages in a real store: delivered, pending and given up on."""

from __future__ import annotations

from datetime import datetime, timedelta

from monitor.models import NotifyReason
from monitor.store import SqlStore
from monitor.store.base import (
    DeliveryFailure,
    MessageDraft,
    NotificationLogEntry,
    OutboxMessage,
)


async def queue(store: SqlStore, group: str, title: str, at: datetime) -> OutboxMessage:
    """Queue one message for receiver ``ops`` in ``group``."""
    draft = MessageDraft(
        group_key=group, receiver="ops", reason=NotifyReason.FIRST, title=title,
        body="body", body_format="text", created_at=at, firing=1,
    )
    entry = NotificationLogEntry(
        group_key=group, receiver="ops", route="root", labels={"rule_id": "r"},
        firing=frozenset({"fp"}), sent_at=at, updated_at=at, reason=NotifyReason.FIRST,
    )
    return await store.enqueue(draft, entry)


async def kill(store: SqlStore, message: OutboxMessage, error: str, at: datetime) -> None:
    """Fail ``message`` once with ``max_attempts`` 1: it becomes a dead letter at ``at``."""
    await store.mark_failed(message.id, DeliveryFailure(error, at, at + timedelta(hours=1), 1))
