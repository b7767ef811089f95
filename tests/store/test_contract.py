"""The store's contract: every test runs against an SQLite file and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from monitor.alerts import StepResult, step
from monitor.errors import StoreError
from monitor.models import AlertState
from monitor.store import Matcher, OutboxState, SilenceDraft, open_store
from monitor.store.base import DeliveryFailure
from monitor.store.migrate import head_revision
from tests.store.helpers import T0, cov, draft, finding, log_entry, raw_execute, stats


async def test_alerts_round_trip_through_a_reopened_file(target: str) -> None:
    path = target
    result = step({}, [finding("d1"), finding("d2")], cov(), T0)
    async with open_store(path) as store:
        await store.commit_sweep(stats(), result)
    async with open_store(path) as store:
        loaded = await store.load_alerts()
    assert loaded == dict(result.alerts)
    alert = next(iter(loaded.values()))
    assert alert.active_since.tzinfo is not None
    assert alert.finding.labels == {"team": "endpoint"}


async def test_load_alerts_of_one_source(target: str) -> None:
    async with open_store(target) as store:
        await store.commit_sweep(stats("acme"), step({}, [finding()], cov("acme"), T0))
        await store.commit_sweep(
            stats("other"), step({}, [finding(source="other")], cov("other"), T0)
        )
        assert {a.finding.source for a in (await store.load_alerts("other")).values()} == {"other"}
        assert len(await store.load_alerts()) == 2


async def test_commit_sweep_upserts_deletes_and_appends_history(target: str) -> None:
    f = finding()
    async with open_store(target) as store:
        first = step({}, [f], cov(), T0)  # pending (for 60s)
        await store.commit_sweep(stats(), first)
        second = step(await store.load_alerts(), [f], cov(), T0 + timedelta(minutes=5))
        await store.commit_sweep(stats(at=T0 + timedelta(minutes=5)), second)
        assert (await store.load_alerts())[f.fingerprint].state is AlertState.FIRING
        history = await store.alert_history(fingerprint=f.fingerprint)
        assert [(h.transition.previous, h.transition.current) for h in history] == [
            (AlertState.PENDING, AlertState.FIRING),
            (None, AlertState.PENDING),
        ]
        by_device = await store.alert_history(device_id="d1", source="acme")
        assert len(by_device) == 2
        assert await store.alert_history(device_id="nope") == []
        sweeps = await store.sweeps("acme")
        assert [s.stats.transitions for s in sweeps] == [1, 1]
        assert sweeps[0].stats == replace(
            stats(at=T0 + timedelta(minutes=5)), firing=1, transitions=1
        )

        pending = finding("d2")
        third = step(await store.load_alerts(), [f, pending], cov(), T0 + timedelta(minutes=10))
        await store.commit_sweep(stats(), third)
        fourth = step(await store.load_alerts(), [f], cov(), T0 + timedelta(minutes=15))
        assert fourth.deleted == {pending.fingerprint}
        await store.commit_sweep(stats(), fourth)
        assert pending.fingerprint not in await store.load_alerts()


async def test_a_failing_commit_changes_nothing(target: str) -> None:
    good = step({}, [finding("d1")], cov(), T0)
    async with open_store(target) as store:
        await store.commit_sweep(stats(), good)
        broken_alert = step({}, [finding("d2")], cov(), T0)
        # A transition that cannot be serialised fails after the alert rows were written.
        bad_transition = broken_alert.transitions[0]
        object.__setattr__(bad_transition.alert.finding, "labels", {"x": object()})
        broken = StepResult(
            source="acme",
            alerts=broken_alert.alerts,
            changed={},
            transitions=(bad_transition,),
            deleted=frozenset(good.alerts),
        )
        with pytest.raises(TypeError):
            await store.commit_sweep(stats(), broken)
        assert set(await store.load_alerts()) == set(good.alerts)
        assert len(await store.sweeps()) == 1


async def test_known_rules_are_remembered_per_source(target: str) -> None:
    async with open_store(target) as store:
        result = step({}, [], cov(), T0, evaluated_rules=["a", "b"])
        await store.commit_sweep(stats(), result)
        assert await store.known_rules("acme") == {"a", "b"}
        assert await store.known_rules("other") == frozenset()


async def test_enqueue_writes_message_and_log_together(target: str) -> None:
    path = target
    async with open_store(path) as store:
        message = await store.enqueue(draft("g1", 1), log_entry("g1", {"fp1"}))
        assert message.state is OutboxState.PENDING
    async with open_store(path) as store:
        assert (await store.notification_log("g1")) == log_entry("g1", {"fp1"})
        assert [m.id for m in await store.due(T0)] == [message.id]
        assert await store.notification_log("nope") is None
        assert set(await store.notification_logs()) == {"g1"}


async def test_update_notification_log_replaces_the_entry(target: str) -> None:
    async with open_store(target) as store:
        await store.update_notification_log(log_entry("g1", {"a", "b"}))
        await store.update_notification_log(log_entry("g1", {"a"}))
        entry = await store.notification_log("g1")
        assert entry is not None
        assert entry.firing == {"a"}
        assert await store.outbox() == []


async def test_due_returns_only_the_head_of_each_group(target: str) -> None:
    async with open_store(target) as store:
        a1 = await store.enqueue(draft("a", 1), log_entry("a", set()))
        a2 = await store.enqueue(draft("a", 2), log_entry("a", set()))
        b1 = await store.enqueue(draft("b", 1), log_entry("b", set()))
        assert [m.id for m in await store.due(T0)] == [a1.id, b1.id]
        # a1 failing and waiting for its retry holds a2 back
        await store.mark_failed(a1.id, DeliveryFailure("refused", T0, T0 + timedelta(minutes=1), 5))
        assert [m.id for m in await store.due(T0)] == [b1.id]
        assert await store.next_attempt_at() == T0
        await store.mark_delivered(b1.id, T0)
        assert await store.next_attempt_at() == T0 + timedelta(minutes=1)
        assert [m.id for m in await store.due(T0 + timedelta(minutes=1))] == [a1.id]
        await store.mark_delivered(a1.id, T0 + timedelta(minutes=1))
        assert [m.id for m in await store.due(T0 + timedelta(minutes=1))] == [a2.id]


async def test_mark_failed_counts_attempts_and_dead_letters(target: str) -> None:
    async with open_store(target) as store:
        m = await store.enqueue(draft("a", 1), log_entry("a", set()))
        later = await store.enqueue(draft("a", 2), log_entry("a", set()))
        states = []
        for i in range(3):
            updated = await store.mark_failed(m.id, DeliveryFailure(f"refused {i}", T0, T0, 3))
            states.append((updated.attempts, updated.state))
        assert states == [(1, OutboxState.PENDING), (2, OutboxState.PENDING),
                          (3, OutboxState.DEAD)]
        dead = await store.dead_letters()
        assert [(d.id, d.last_error) for d in dead] == [(m.id, "refused 2")]
        # a dead letter no longer blocks its group
        assert [x.id for x in await store.due(T0)] == [later.id]
        counts = await store.outbox_counts()
        assert counts == {OutboxState.PENDING: 1, OutboxState.DELIVERED: 0, OutboxState.DEAD: 1}
        assert await store.requeue(m.id, T0)
        assert not await store.requeue(m.id, T0)
        assert [x.id for x in await store.due(T0)] == [m.id]


async def test_silences_are_stored_listed_and_expired(target: str) -> None:
    path = target
    matchers = (Matcher("device_name", "=~", "Lab.*"), Matcher("severity", "!=", "critical"))
    async with open_store(path) as store:
        s = await store.add_silence(
            SilenceDraft(
                matchers, starts_at=T0, ends_at=T0 + timedelta(hours=2), comment="lab rebuild",
                author="ana", created_at=T0,
            ),
        )
        with pytest.raises(ValueError, match="end after"):
            await store.add_silence(SilenceDraft(matchers, T0, T0, "", "", created_at=T0))
    async with open_store(path) as store:
        active = await store.silences(T0 + timedelta(hours=1))
        assert active == [s]
        assert await store.expire_silence(s.id, T0 + timedelta(hours=1))
        assert not await store.expire_silence(s.id, T0 + timedelta(hours=1))
        assert await store.silences(T0 + timedelta(hours=1)) == []
        [expired] = await store.silences(include_expired=True)
        assert expired.ends_at == T0 + timedelta(hours=1)


async def test_actions_audit_is_listed_newest_first(target: str) -> None:
    async with open_store(target) as store:
        first = await store.record_action("tag", "d1", "monitor", T0, "done", "tag=noncompliant")
        second = await store.record_action("refresh", "d2", "ana", T0 + timedelta(hours=1),
                                           "refused", "cap reached")
        assert [a.id for a in await store.actions()] == [second, first]
        [only] = await store.actions(device="d1")
        assert (only.action, only.who, only.result, only.at) == ("tag", "monitor", "done", T0)
        assert [a.id for a in await store.actions(since=T0 + timedelta(minutes=1))] == [second]


async def test_schema_is_versioned_and_a_newer_database_is_refused(target: str) -> None:
    async with open_store(target) as store:
        assert await store.schema_revision() == head_revision()
    await raw_execute(target, "UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StoreError, match="newer than this program") as caught:
        async with open_store(target):
            pass
    assert "\n" not in str(caught.value)


async def test_reopening_a_current_database_migrates_nothing(target: str) -> None:
    async with open_store(target) as store:
        await store.enqueue(draft("g", 1), log_entry("g", {"x"}))
    async with open_store(target) as store:
        assert await store.schema_revision() == head_revision()
        assert len(await store.outbox()) == 1


async def test_using_a_closed_store_is_a_store_error(target: str) -> None:
    store = open_store(target)
    with pytest.raises(StoreError, match="not open"):
        await store.load_alerts()
    await store.open()
    await store.close()
    await store.close()
    with pytest.raises(StoreError, match="not open"):
        await store.load_alerts()


async def test_prune_forgets_old_history_but_keeps_alerts_and_dead_letters(
    target: str,
) -> None:
    async with open_store(target) as store:
        await store.commit_sweep(stats(at=T0), step({}, [finding("d1")], cov(), T0))
        later = T0 + timedelta(days=40)
        await store.commit_sweep(stats(at=later), step({}, [finding("d2")], cov(), later))
        old = await store.enqueue(draft("a", 1), log_entry("a", set()))
        await store.mark_delivered(old.id, T0)
        dead = await store.enqueue(draft("b", 1), log_entry("b", set()))
        await store.mark_failed(dead.id, DeliveryFailure("x", T0, T0, max_attempts=1))
        counts = await store.prune(T0 + timedelta(days=30))
        assert counts == {"history": 1, "sweeps": 1, "delivered": 1, "silences": 0,
                          "owners": 0}
        assert len(await store.sweeps()) == 1
        assert len(await store.alert_history()) == 1
        assert len(await store.load_alerts()) == 2
        assert [m.id for m in await store.dead_letters()] == [dead.id]
