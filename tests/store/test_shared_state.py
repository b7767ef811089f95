"""The state several instances share, on both backends: leases and fencing, outbox
claims, the request budget ledger and the sweepers' memo.

"Two instances" are two stores opened on the same database: two connections, as two
processes would have.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta

import pytest

from monitor.alerts import step
from monitor.errors import StaleLeaseError
from monitor.store import SqlStore, open_store
from monitor.store.base import DeliveryFailure, OwnerRecord
from tests.store.helpers import T0, cov, draft, finding, log_entry, stats

TTL = timedelta(seconds=30)


# ------------------------------------------------------------------------ leases


async def test_a_lease_is_held_by_one_owner_until_it_lapses(store: SqlStore) -> None:
    a = await store.acquire_lease("acme", "a", T0, TTL)
    assert a is not None
    assert (a.owner, a.epoch, a.expires_at) == ("a", 1, T0 + TTL)
    # another owner cannot take it while it holds
    assert await store.acquire_lease("acme", "b", T0 + timedelta(seconds=29), TTL) is None
    # the holder renews it and keeps its epoch
    renewed = await store.acquire_lease("acme", "a", T0 + timedelta(seconds=10), TTL)
    assert renewed is not None
    assert (renewed.epoch, renewed.acquired_at) == (1, T0)
    # once lapsed, another owner takes it with the next epoch
    b = await store.acquire_lease("acme", "b", T0 + timedelta(seconds=41), TTL)
    assert b is not None
    assert (b.owner, b.epoch) == ("b", 2)
    # the previous holder can no longer renew
    assert await store.renew_lease(renewed, T0 + timedelta(seconds=42), TTL) is None
    assert [(x.source, x.owner, x.epoch) for x in await store.leases()] == [("acme", "b", 2)]


async def test_taking_back_ones_own_lapsed_lease_starts_a_new_epoch(store: SqlStore) -> None:
    first = await store.acquire_lease("acme", "a", T0, TTL)
    assert first is not None
    again = await store.acquire_lease("acme", "a", T0 + timedelta(minutes=5), TTL)
    assert again is not None
    assert again.epoch == first.epoch + 1
    # so what was decided under the first epoch cannot be written any more
    with pytest.raises(StaleLeaseError):
        await store.commit_sweep(
            stats(at=T0 + timedelta(minutes=5)), step({}, [finding()], cov(), T0), lease=first
        )


async def test_renew_and_release(store: SqlStore) -> None:
    lease = await store.acquire_lease("acme", "a", T0, TTL)
    assert lease is not None
    renewed = await store.renew_lease(lease, T0 + timedelta(seconds=20), TTL)
    assert renewed is not None
    assert renewed.expires_at == T0 + timedelta(seconds=50)
    # a renewal after the lease lapsed fails: the lease must be taken again
    assert await store.renew_lease(renewed, T0 + timedelta(seconds=51), TTL) is None
    again = await store.acquire_lease("acme", "a", T0 + timedelta(seconds=60), TTL)
    assert again is not None
    assert await store.release_lease(again, T0 + timedelta(seconds=61))
    assert not await store.release_lease(again, T0 + timedelta(seconds=62))
    # released: another owner takes it at once
    other = await store.acquire_lease("acme", "b", T0 + timedelta(seconds=62), TTL)
    assert other is not None
    assert other.epoch == again.epoch + 1


async def test_sources_are_leased_independently(store: SqlStore) -> None:
    assert await store.acquire_lease("acme", "a", T0, TTL) is not None
    assert await store.acquire_lease("globex", "b", T0, TTL) is not None
    assert {(x.source, x.owner) for x in await store.leases()} == {("acme", "a"),
                                                                   ("globex", "b")}


async def test_racing_instances_get_one_lease_each_time(target: str) -> None:
    """Several stores (connections) ask for the same free leases at the same instant:
    every source ends with exactly one holder, and every asker was told the truth."""
    stores = [open_store(target) for _ in range(4)]
    for s in stores:
        await s.open()
    try:
        sources = [f"tenant-{i}" for i in range(6)]
        for round_ in range(3):
            now = T0 + timedelta(minutes=5 * round_)  # every lease lapsed since last round
            results = await asyncio.gather(
                *(s.acquire_lease(src, f"i{n}", now, TTL)
                  for n, s in enumerate(stores) for src in sources)
            )
            won = [r for r in results if r is not None]
            assert sorted(r.source for r in won) == sorted(sources)
            held = {x.source: (x.owner, x.epoch) for x in await stores[0].leases()}
            assert held == {r.source: (r.owner, r.epoch) for r in won}
            assert {epoch for _, epoch in held.values()} == {round_ + 1}
    finally:
        for s in stores:
            await s.close()


# ------------------------------------------------------------------------ fencing


async def test_fenced_writes_pass_with_the_current_lease(store: SqlStore) -> None:
    lease = await store.acquire_lease("acme", "a", T0 - timedelta(seconds=5), TTL)
    assert lease is not None
    sweep = await store.commit_sweep(stats(), step({}, [finding()], cov(), T0), lease=lease)
    [record] = await store.sweeps()
    assert (record.id, record.instance, record.epoch) == (sweep, "a", lease.epoch)
    await store.enqueue(draft("g", 1), log_entry("g", {"x"}), lease=lease)
    await store.update_notification_log(log_entry("g", {"x", "y"}), lease=lease)
    await store.save_owner(_owner(), lease=lease)
    await store.record_digest_run("weekly", T0, lease=lease)
    await store.save_memo("acme", {"d1": "v"}, T0, lease=lease)
    assert len(await store.load_alerts()) == 1
    assert len(await store.outbox()) == 1


async def test_a_stale_epoch_writes_nothing(target: str) -> None:
    """A paused instance wakes up after its lease was taken over: every write it tries
    under its old epoch is refused and leaves no trace."""
    async with open_store(target) as paused, open_store(target) as successor:
        old = await paused.acquire_lease("acme", "paused", T0 - timedelta(seconds=5), TTL)
        assert old is not None
        new = await successor.acquire_lease("acme", "successor", T0 + timedelta(minutes=1),
                                            TTL)
        assert new is not None
        assert new.epoch == old.epoch + 1
        later = T0 + timedelta(minutes=1)
        with pytest.raises(StaleLeaseError, match="write refused"):
            await paused.commit_sweep(stats(), step({}, [finding()], cov(), T0), lease=old)
        with pytest.raises(StaleLeaseError):
            await paused.enqueue(draft("g", 1, later), log_entry("g", {"x"}), lease=old)
        with pytest.raises(StaleLeaseError):
            await paused.update_notification_log(log_entry("g", {"x"}, later), lease=old)
        with pytest.raises(StaleLeaseError):
            await paused.save_owner(_owner(later), lease=old)
        with pytest.raises(StaleLeaseError):
            await paused.record_digest_run("weekly", later, lease=old)
        with pytest.raises(StaleLeaseError):
            await paused.save_memo("acme", {"d1": "v"}, later, lease=old)
        assert await successor.load_alerts() == {}
        assert await successor.sweeps() == []
        assert await successor.outbox() == []
        assert await successor.notification_logs() == {}
        assert await successor.owner_records() == {}
        assert await successor.digest_runs() == {}
        assert await successor.load_memo("acme") == {}


async def test_a_write_stamped_after_the_lease_lapsed_is_refused(store: SqlStore) -> None:
    lease = await store.acquire_lease("acme", "a", T0 - timedelta(minutes=5), TTL)
    assert lease is not None
    with pytest.raises(StaleLeaseError):
        await store.commit_sweep(stats(), step({}, [finding()], cov(), T0), lease=lease)


async def test_a_lease_of_another_source_is_a_programming_error(store: SqlStore) -> None:
    lease = await store.acquire_lease("globex", "a", T0, TTL)
    assert lease is not None
    with pytest.raises(ValueError, match="lease"):
        await store.commit_sweep(stats(), step({}, [finding()], cov(), T0), lease=lease)


# ------------------------------------------------------------------------ outbox claims


async def test_a_claimed_message_is_not_claimed_again_until_the_claim_lapses(
    store: SqlStore,
) -> None:
    a = await store.enqueue(draft("a", 1), log_entry("a", set()))
    b = await store.enqueue(draft("b", 1), log_entry("b", set()))
    claim = timedelta(minutes=2)
    assert [m.id for m in await store.claim_due(T0, "i1", claim)] == [a.id, b.id]
    assert await store.claim_due(T0, "i2", claim) == []
    # the claimer crashed: after the claim lapses another instance takes the messages
    later = T0 + claim
    assert [m.id for m in await store.claim_due(later, "i2", claim)] == [a.id, b.id]
    # the crashed claimer, should it come back, cannot mark them
    assert not await store.mark_delivered(a.id, later, claimed_by="i1")
    assert await store.mark_delivered(a.id, later, claimed_by="i2")
    failure = DeliveryFailure("x", later, later, max_attempts=5)
    unchanged = await store.mark_failed(b.id, failure, claimed_by="i1")
    assert unchanged.attempts == 0
    failed = await store.mark_failed(b.id, failure, claimed_by="i2")
    assert failed.attempts == 1
    # a failed message's claim is dropped: it is due again for anyone
    assert [m.id for m in await store.claim_due(later, "i3", claim)] == [b.id]


async def test_a_claim_keeps_the_group_in_order(store: SqlStore) -> None:
    first = await store.enqueue(draft("g", 1), log_entry("g", set()))
    second = await store.enqueue(draft("g", 2), log_entry("g", set()))
    assert [m.id for m in await store.claim_due(T0, "i1", TTL)] == [first.id]
    # the group's next message waits for the claimed head, whoever asks
    assert await store.claim_due(T0, "i2", TTL) == []
    await store.mark_delivered(first.id, T0, claimed_by="i1")
    assert [m.id for m in await store.claim_due(T0, "i2", TTL)] == [second.id]


async def test_released_claims_are_due_at_once(store: SqlStore) -> None:
    m = await store.enqueue(draft("g", 1), log_entry("g", set()))
    await store.claim_due(T0, "i1", TTL)
    assert await store.release_claims("i1") == 1
    assert [x.id for x in await store.claim_due(T0, "i2", TTL)] == [m.id]


async def test_racing_claimers_never_share_a_message(target: str) -> None:
    stores = [open_store(target) for _ in range(4)]
    for s in stores:
        await s.open()
    try:
        for g in range(40):
            await stores[0].enqueue(draft(f"g{g}", 1), log_entry(f"g{g}", set()))
        claimed: list[int] = []
        for _ in range(5):
            batches = await asyncio.gather(
                *(s.claim_due(T0, f"i{n}", TTL, limit=3) for n, s in enumerate(stores))
            )
            claimed.extend(m.id for batch in batches for m in batch)
        counts = Counter(claimed)
        assert len(counts) == 40
        assert set(counts.values()) == {1}
    finally:
        for s in stores:
            await s.close()


# ------------------------------------------------------------------------ request budget


async def test_the_hourly_budget_is_shared_and_never_exceeded(target: str) -> None:
    async with open_store(target) as one, open_store(target) as two:
        assert await one.spend_budget("acme", T0, 25, per_hour=40) == 25
        assert await two.spend_budget("acme", T0 + timedelta(minutes=10), 25, per_hour=40) == 15
        assert await one.spend_budget("acme", T0 + timedelta(minutes=20), 1, per_hour=40) == 0
        assert await two.budget_spent("acme", T0 + timedelta(minutes=20)) == 40
        # another source has its own budget
        assert await two.spend_budget("globex", T0, 5, per_hour=40) == 5
        # an hour (and a second, as a whole second is counted) after the first spend,
        # those 25 are free again; the 15 of ten minutes later are not
        after = T0 + timedelta(hours=1, seconds=1)
        assert await one.budget_spent("acme", after) == 15
        assert await one.spend_budget("acme", after, 40, per_hour=40) == 25


async def test_racing_spenders_share_one_budget(target: str) -> None:
    stores = [open_store(target) for _ in range(4)]
    for s in stores:
        await s.open()
    try:
        grants = await asyncio.gather(
            *(s.spend_budget("acme", T0 + timedelta(seconds=i), 3, per_hour=40)
              for i in range(5) for s in stores)
        )
        assert sum(grants) == 40
        assert await stores[0].budget_spent("acme", T0 + timedelta(minutes=1)) == 40
    finally:
        for s in stores:
            await s.close()


# ------------------------------------------------------------------------ memo


def _owner(at: datetime = T0) -> OwnerRecord:
    return OwnerRecord(key="owners:abc", receiver="owners", address="jane@example.com",
                       items={}, updated_at=at)


async def test_memo_entries_are_upserted_and_deleted(store: SqlStore) -> None:
    await store.save_memo("acme", {"d1": "a", "d2": "b"}, T0)
    await store.save_memo("acme", {"d1": "c", "d2": None}, T0)
    await store.save_memo("globex", {"d1": "z"}, T0)
    assert await store.load_memo("acme") == {"d1": "c"}
    assert await store.load_memo("globex") == {"d1": "z"}


# ------------------------------------------------------------------------ scratch, copy


async def test_scratch_writes_are_dropped_on_every_backend(target: str) -> None:
    async with open_store(target) as store, open_store(target) as observer:
        await store.enqueue(draft("g", 1), log_entry("g", {"x"}))
        lease = await store.acquire_lease("acme", "a", T0 - timedelta(seconds=1), TTL)
        assert lease is not None
        async with store.scratch():
            await store.commit_sweep(stats(), step({}, [finding()], cov(), T0), lease=lease)
            await store.enqueue(draft("g", 2), log_entry("g", {"x", "y"}))
            assert len(await store.outbox()) == 2
            assert len(await store.load_alerts()) == 1
            assert len(await observer.outbox()) == 1
        assert len(await store.outbox()) == 1
        assert await store.load_alerts() == {}
        assert await observer.sweeps() == []


async def test_copy_into_moves_every_row_and_new_ids_follow(target: str, tmp_path: object
                                                            ) -> None:
    source_url = f"sqlite:///{tmp_path}/source.db"
    async with open_store(source_url) as source:
        await source.commit_sweep(stats(), step({}, [finding("d1"), finding("d2")], cov(), T0))
        m = await source.enqueue(draft("g", 1), log_entry("g", {"x"}))
        await source.record_digest_run("weekly", T0)
        async with open_store(target) as copy:
            counts = await source.copy_into(copy)
            assert counts["alerts"] == 2
            assert counts["outbox"] == 1
            assert len(await copy.load_alerts()) == 2
            assert [x.id for x in await copy.outbox()] == [m.id]
            assert await copy.digest_runs() == {"weekly": T0}
            newer = await copy.enqueue(draft("g", 2), log_entry("g", {"x"}))
            assert newer.id > m.id
            with pytest.raises(Exception, match="empty store"):
                await source.copy_into(copy)


async def test_instances_are_alive_while_they_beat(store: SqlStore) -> None:
    assert await store.heartbeat("b", T0, TTL) == ["b"]
    assert await store.heartbeat("a", T0 + timedelta(seconds=20), TTL) == ["a", "b"]
    # b stopped beating: gone once its last beat lapsed
    assert await store.heartbeat("a", T0 + timedelta(seconds=40), TTL) == ["a"]
    await store.heartbeat("c", T0 + timedelta(seconds=41), TTL)
    await store.leave("c", T0 + timedelta(seconds=42))
    assert await store.heartbeat("a", T0 + timedelta(seconds=43), TTL) == ["a"]
