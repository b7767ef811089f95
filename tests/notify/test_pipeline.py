"""The notification pipeline end to end: real SQLite store, fake clock, recording sender."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest

from monitor.clock import FakeClock
from monitor.models import NotifyReason
from monitor.notify import NotifyPipeline
from monitor.store import OutboxState, SqlStore, open_store
from monitor.store.base import NotificationLogEntry, Store
from tests.notify.helpers import RecordingSender, finding, make_config, sweep

SWEEP = timedelta(minutes=5)


def pipeline(
    store: SqlStore, sender: RecordingSender, clock: FakeClock, **config: object
) -> NotifyPipeline:
    return NotifyPipeline(make_config(**config), store, sender, clock)  # type: ignore[arg-type]


async def test_first_message_waits_for_group_wait_then_goes_out_once(
    store: SqlStore, sender: RecordingSender, clock: FakeClock
) -> None:
    p = pipeline(store, sender, clock)
    p.kick(await sweep(store, [finding("d1"), finding("d2")], clock.now()))
    assert await p.flush(clock.now()) == []  # group_wait (30s) not over
    clock.advance(29)
    assert await p.flush(clock.now()) == []
    clock.advance(1)
    [queued] = await p.flush(clock.now())
    assert queued.reason is NotifyReason.FIRST
    assert queued.firing == 2
    assert (await p.deliver_due()).delivered == 1
    assert len(sender.sent) == 1
    assert "Mac d1" in sender.sent[0].body
    assert "C02D2" in sender.sent[0].body
    # nothing changes: nothing more is said
    clock.advance(SWEEP)
    assert await p.flush(clock.now()) == []


async def test_new_alert_in_a_notified_group_waits_for_group_interval(
    store: SqlStore, sender: RecordingSender, clock: FakeClock
) -> None:
    p = pipeline(store, sender, clock)
    p.kick(await sweep(store, [finding("d1")], clock.now()))
    await p.flush(clock.now(), ignore_wait=True)
    clock.advance(60)
    p.kick(await sweep(store, [finding("d1"), finding("d2")], clock.now()))
    assert await p.flush(clock.now()) == []
    clock.advance(SWEEP - timedelta(seconds=60))
    [update] = await p.flush(clock.now())
    assert update.reason is NotifyReason.FIRST
    assert update.firing == 2


@pytest.mark.parametrize(
    ("repeat_interval", "hours", "expected"),
    [
        ("4h", 3.9, []),
        ("4h", 4.1, [NotifyReason.REPEAT]),
        ("1h", 1.1, [NotifyReason.REPEAT]),
    ],
)
async def test_repeat_after_repeat_interval(
    store: SqlStore, sender: RecordingSender, clock: FakeClock,
    repeat_interval: str, hours: float, expected: list[NotifyReason],
) -> None:
    p = pipeline(store, sender, clock,
                 route={"receiver": "ops", "repeat_interval": repeat_interval})
    p.kick(await sweep(store, [finding("d1")], clock.now()))
    await p.flush(clock.now(), ignore_wait=True)
    clock.advance(timedelta(hours=hours))
    p.kick(await sweep(store, [finding("d1")], clock.now()))
    assert [m.reason for m in await p.flush(clock.now(), ignore_wait=True)] == expected


@pytest.mark.parametrize(("send_resolved", "expected"), [(True, 1), (False, 0)])
async def test_resolution_is_announced_when_the_receiver_wants_it(
    store: SqlStore, sender: RecordingSender, clock: FakeClock,
    send_resolved: bool, expected: int,
) -> None:
    p = pipeline(store, sender, clock,
                 receivers=[{"name": "ops", "console": True, "send_resolved": send_resolved}])
    p.kick(await sweep(store, [finding("d1")], clock.now()))
    await p.flush(clock.now(), ignore_wait=True)
    clock.advance(SWEEP)
    p.kick(await sweep(store, [], clock.now()))
    messages = await p.flush(clock.now(), ignore_wait=True)
    assert [m.reason for m in messages] == [NotifyReason.RESOLVED] * expected
    # either way the log forgets it: later evaluations stay quiet
    clock.advance(timedelta(hours=5))
    assert await p.flush(clock.now(), ignore_wait=True) == []


async def test_400_devices_failing_in_one_sweep_make_one_message_per_receiver(
    store: SqlStore, sender: RecordingSender, clock: FakeClock
) -> None:
    p = pipeline(
        store, sender, clock,
        receivers=[{"name": "ops", "console": True, "max_devices": 10},
                   {"name": "desk", "console": True}],
        route={"receiver": "ops", "routes": [
            {"receiver": "ops", "continue": True},
            {"receiver": "desk"},
        ]},
    )
    devices = [f"d{n:03d}" for n in range(400)]
    p.kick(await sweep(store, [finding(d) for d in devices], clock.now()))
    assert await p.flush(clock.now()) == []
    clock.advance(30)
    queued = await p.flush(clock.now())
    assert sorted(m.receiver for m in queued) == ["desk", "ops"]
    assert all(m.firing == 400 for m in queued)
    await p.deliver_due()
    ops = next(s for s in sender.sent if s.receiver == "ops")
    assert "400 devices" in ops.title
    assert "and 390 more devices" in ops.body
    assert ops.body.count("(serial") == 10


async def test_flapping_item_over_50_sweeps_makes_one_first_message(
    store: SqlStore, sender: RecordingSender, clock: FakeClock
) -> None:
    p = pipeline(store, sender, clock, route={"receiver": "ops", "repeat_interval": "1d"})
    flappy = finding("d1", keep_s=15 * 60)
    for n in range(50):
        p.kick(await sweep(store, [flappy] if n % 2 == 0 else [], clock.now()))
        p.kick()
        await p.flush(clock.now())
        await p.deliver_due()
        clock.advance(SWEEP)
    assert [s.title.split("]")[0] for s in sender.sent] == ["[FIRING:1"]
    assert len(await store.load_alerts()) == 1


async def test_reopening_the_store_announces_nothing_again(
    tmp_path: Path, sender: RecordingSender, clock: FakeClock
) -> None:
    path = tmp_path / "m.db"
    async with open_store(path) as store:
        p = pipeline(store, sender, clock)
        p.kick(await sweep(store, [finding("d1"), finding("d2")], clock.now()))
        await p.flush(clock.now(), ignore_wait=True)
        await p.deliver_due()
    clock.advance(SWEEP)
    async with open_store(path) as store:
        p = pipeline(store, sender, clock)
        p.kick(await sweep(store, [finding("d1"), finding("d2")], clock.now()))
        assert await p.flush(clock.now(), ignore_wait=True) == []
        clock.advance(60)
        assert await p.flush(clock.now()) == []
    assert len(sender.sent) == 1


async def test_queued_message_survives_a_crash_before_delivery(
    tmp_path: Path, sender: RecordingSender, clock: FakeClock
) -> None:
    path = tmp_path / "m.db"
    async with open_store(path) as store:
        await sweep(store, [finding("d1")], clock.now())
        await pipeline(store, sender, clock).flush(clock.now(), ignore_wait=True)
    # the process dies here: nothing was delivered
    async with open_store(path) as store:
        stats = await pipeline(store, sender, clock).deliver_due()
    assert stats.delivered == 1
    assert len(sender.sent) == 1


async def test_baseline_first_start_announces_nothing_then_news(
    store: SqlStore, sender: RecordingSender, clock: FakeClock
) -> None:
    p = pipeline(store, sender, clock, notify={"first_start": "baseline"})
    rule = "kandji.library-item.failed"
    p.kick(await sweep(store, [finding("d1"), finding("d2")], clock.now(), baseline={rule}))
    assert await p.flush(clock.now(), ignore_wait=True) == []
    clock.advance(SWEEP)
    p.kick(await sweep(store, [finding("d1"), finding("d2"), finding("d3")], clock.now()))
    [news] = await p.flush(clock.now(), ignore_wait=True)
    assert news.firing == 1
    clock.advance(SWEEP)
    # a baseline alert resolving is not news either
    p.kick(await sweep(store, [finding("d3")], clock.now()))
    assert await p.flush(clock.now(), ignore_wait=True) == []


async def test_inhibited_device_alerts_are_replaced_by_one_device_message(
    store: SqlStore, sender: RecordingSender, clock: FakeClock
) -> None:
    p = pipeline(store, sender, clock, route={"receiver": "ops", "group_by": ["source"]})
    items = [finding("d1", "i1"), finding("d1", "i2"), finding("d2", "i1")]
    from monitor.config import InhibitConfig

    inhibit = InhibitConfig()
    p.kick(await sweep(store, items, clock.now(), inhibit=inhibit))
    await p.flush(clock.now(), ignore_wait=True)
    await p.deliver_due()
    clock.advance(SWEEP)
    # d1 disappears from the complete device list
    p.kick(await sweep(store, [items[2]], clock.now(), devices=["d2"], inhibit=inhibit))
    [update] = await p.flush(clock.now(), ignore_wait=True)
    await p.deliver_due()
    assert update.reason is NotifyReason.FIRST
    body = sender.sent[-1].body
    assert "no longer listed" in body
    # the two muted item alerts are neither repeated nor reported resolved
    assert update.firing == 2  # d2's item and the device-level alert
    assert update.resolved == 0


async def test_preview_renders_without_writing(
    store: SqlStore, sender: RecordingSender, clock: FakeClock
) -> None:
    p = pipeline(store, sender, clock)
    p.kick(await sweep(store, [finding("d1")], clock.now()))
    [preview] = await p.preview(clock.now())
    assert preview.reason is NotifyReason.FIRST
    assert "Mac d1" in preview.body
    assert await store.outbox() == []
    assert await store.notification_logs() == {}
    # and it did not start the group's timer: a real flush still waits group_wait
    assert await p.flush(clock.now()) == []


async def test_test_notify_sends_a_sample_directly(
    store: SqlStore, sender: RecordingSender, clock: FakeClock
) -> None:
    p = pipeline(store, sender, clock)
    rendered = await p.test_notify("ops")
    assert rendered.title.startswith("[TEST]")
    assert [s.receiver for s in sender.sent] == ["ops"]
    assert await store.outbox() == []
    with pytest.raises(KeyError):
        await p.test_notify("nobody")


# ---------------------------------------------------------------- outbox delivery


async def test_failed_delivery_backs_off_exponentially_then_succeeds(
    store: SqlStore, clock: FakeClock
) -> None:
    sender = RecordingSender(fail=3)
    p = pipeline(store, sender, clock,
                 notify={"outbox": {"backoff_base": "10s", "backoff_max": "25s"}})
    p.kick(await sweep(store, [finding("d1")], clock.now()))
    await p.flush(clock.now(), ignore_wait=True)
    waits = []
    for _ in range(4):
        stats = await p.deliver_due()
        if stats.delivered:
            break
        [pending] = await store.outbox(state=OutboxState.PENDING)
        waits.append((pending.next_attempt_at - clock.now()).total_seconds())
        clock.advance(1)
        assert (await p.deliver_due()).failed == 0  # not due yet: not tried
        clock.set(pending.next_attempt_at)
    assert waits == [10, 20, 25]
    assert len(sender.sent) == 1
    [done] = await store.outbox(state=OutboxState.DELIVERED)
    assert done.attempts == 4


async def test_dead_letter_after_max_attempts(store: SqlStore, clock: FakeClock) -> None:
    sender = RecordingSender(fail=100)
    p = pipeline(store, sender, clock, notify={"outbox": {"max_attempts": 3}})
    p.kick(await sweep(store, [finding("d1")], clock.now()))
    await p.flush(clock.now(), ignore_wait=True)
    total = 0
    for _ in range(5):
        total += (await p.deliver_due()).failed
        clock.advance(timedelta(hours=2))
    assert total == 3
    [dead] = await store.dead_letters()
    assert dead.attempts == 3
    assert "refused" in dead.last_error
    assert (await store.outbox_counts())[OutboxState.DEAD] == 1


async def test_messages_of_a_group_are_delivered_in_order_despite_failures(
    store: SqlStore, clock: FakeClock
) -> None:
    sender = RecordingSender(fail=2)
    p = pipeline(store, sender, clock)
    p.kick(await sweep(store, [finding("d1")], clock.now()))
    await p.flush(clock.now(), ignore_wait=True)
    await p.deliver_due()  # first attempt fails
    clock.advance(SWEEP)
    p.kick(await sweep(store, [], clock.now()))
    await p.flush(clock.now(), ignore_wait=True)  # the resolved message queues behind
    for _ in range(10):
        await p.deliver_due()
        clock.advance(timedelta(minutes=10))
    assert [s.title.split("]")[0] for s in sender.sent] == ["[FIRING:1", "[RESOLVED:1"]


async def test_run_loop_delivers_after_kick_and_group_wait(
    store: SqlStore, sender: RecordingSender, clock: FakeClock
) -> None:
    p = pipeline(store, sender, clock)
    task = asyncio.create_task(p.run())
    try:
        await _until(lambda: clock.sleepers > 0)
        p.kick(await sweep(store, [finding("d1")], clock.now()))
        p.kick()
        await _until(lambda: clock.sleepers > 0 and p.planner.next_due() is not None)
        clock.advance(30)
        await _until(lambda: len(sender.sent) == 1)
    finally:
        p.stop()
        await asyncio.wait_for(task, 5)
    assert sender.sent[0].receiver == "ops"


async def _until(condition: object, timeout: float = 10.0) -> None:
    """Yield to the loop until ``condition()`` holds (no wall-clock waiting: the timeout
    only bounds a failure; SQLite's worker thread may need many turns on a busy machine)."""
    assert callable(condition)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


@pytest.mark.parametrize(
    ("group_wait", "group_interval"),
    [(30, 300), (0, 60), (120, 600)],
)
async def test_group_timers_table(
    store: SqlStore, sender: RecordingSender, clock: FakeClock,
    group_wait: int, group_interval: int,
) -> None:
    p = pipeline(store, sender, clock, route={
        "receiver": "ops", "group_wait": group_wait, "group_interval": group_interval,
    })
    start = clock.now()
    p.kick(await sweep(store, [finding("d1")], clock.now()))
    sent_at = []
    for second in range(0, group_wait + group_interval + 2):
        clock.set(start + timedelta(seconds=second))
        if second == group_wait + 1:
            p.kick(await sweep(store, [finding("d1"), finding("d2")], clock.now()))
        for message in await p.flush(clock.now()):
            sent_at.append((second, message.firing))
    assert sent_at == [(group_wait, 1), (group_wait + group_interval, 2)]


class ReloadWhileReading:
    """The store, with a planner reload() landing while the notification log is read
    (what a lease taken by a sweep does while the notify loop evaluates)."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self.pipeline: NotifyPipeline | None = None

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def notification_logs(self) -> dict[str, NotificationLogEntry]:
        logs = await self._store.notification_logs()
        assert self.pipeline is not None
        self.pipeline.planner.reload()
        return logs


async def test_a_reload_during_an_evaluation_does_not_break_it(
    store: SqlStore, sender: RecordingSender, clock: FakeClock
) -> None:
    racing = ReloadWhileReading(store)
    p = NotifyPipeline(make_config(), cast(Store, racing), sender, clock)
    racing.pipeline = p
    await sweep(store, [finding("d1")], clock.now())
    [queued] = await p.flush(clock.now(), ignore_wait=True)
    assert queued.firing == 1
    assert (await p.deliver_due()).delivered == 1
