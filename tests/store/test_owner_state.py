"""Owner-notice state and digest runs, on both backends: round trip, one transaction
with the messages, kept while a message may need the address, pruned after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.models import NotifyReason
from monitor.store import SqlStore
from monitor.store.base import MessageDraft, OwnerItemNotice, OwnerRecord

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def record(items: int, at: datetime = T0) -> OwnerRecord:
    return OwnerRecord(
        key="owner:owners:abc", receiver="owners", address="jane@example.com",
        items={f"fp{n}": OwnerItemNotice(T0, at, n + 1, escalated_at=None if n else at)
               for n in range(items)},
        updated_at=at, day="2026-01-05", sent_today=1, last_window="2026-01-05",
    )


def draft(at: datetime = T0) -> MessageDraft:
    return MessageDraft(group_key="owner:owners:abc", receiver="owners",
                        reason=NotifyReason.FIRST, title="t", body="b", body_format="html",
                        created_at=at, firing=2)


async def test_owner_record_round_trip_with_its_message(store: SqlStore) -> None:
    [queued] = await store.save_owner(record(2), [draft()])
    assert queued.group_key == "owner:owners:abc"
    assert await store.owner_records() == {"owner:owners:abc": record(2)}
    assert await store.owner_records("other") == {}
    assert "jane@example.com" not in repr(record(2))


async def test_an_owner_with_nothing_failing_is_kept_then_pruned(store: SqlStore) -> None:
    await store.save_owner(record(1))
    await store.save_owner(record(0, T0 + timedelta(days=1)))
    assert (await store.owner_records())["owner:owners:abc"].address == "jane@example.com"
    assert (await store.prune(T0))["owners"] == 0
    assert (await store.prune(T0 + timedelta(days=2)))["owners"] == 1
    assert await store.owner_records() == {}


async def test_digest_runs_are_remembered(store: SqlStore) -> None:
    assert await store.digest_runs() == {}
    await store.record_digest_run("weekly", T0)
    await store.record_digest_run("weekly", T0 + timedelta(days=7))
    assert await store.digest_runs() == {"weekly": T0 + timedelta(days=7)}
