"""Silences in the running pipeline: config, stored at run time, recurring windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.clock import FakeClock
from monitor.models import AlertState, NotifyReason
from monitor.notify import NotifyPipeline
from monitor.store import Matcher, SilenceDraft, SqlStore
from tests.notify.helpers import RecordingSender, finding, make_config, sweep

SWEEP = timedelta(minutes=5)


async def test_config_silence_mutes_matching_alerts_but_keeps_their_state(
    store: SqlStore, sender: RecordingSender, clock: FakeClock
) -> None:
    config = make_config(
        route={"receiver": "ops", "group_by": ["source"]},
        silences=[{"matchers": [{"name": "device_name", "op": "=~", "value": "Mac d[12]"}],
                   "comment": "lab rebuild"}],
    )
    p = NotifyPipeline(config, store, sender, clock)
    p.kick(await sweep(store, [finding("d1"), finding("d2"), finding("d3")], clock.now()))
    [message] = await p.flush(clock.now(), ignore_wait=True)
    assert message.firing == 1
    alerts = await store.load_alerts()
    assert all(a.state is AlertState.FIRING for a in alerts.values())


async def test_stored_silence_is_picked_up_and_its_end_announces_what_still_fires(
    store: SqlStore, sender: RecordingSender, clock: FakeClock
) -> None:
    p = NotifyPipeline(make_config(), store, sender, clock)
    silence = await store.add_silence(
        SilenceDraft(
            (Matcher("device_name", "=", "Mac d1"),),
            starts_at=clock.now(), ends_at=clock.now() + timedelta(hours=1),
            comment="reimaging", author="ana", created_at=clock.now(),
        ),
    )
    p.kick(await sweep(store, [finding("d1")], clock.now()))
    assert await p.flush(clock.now(), ignore_wait=True) == []
    clock.advance(SWEEP)
    await store.expire_silence(silence.id, clock.now())
    [message] = await p.flush(clock.now(), ignore_wait=True)
    assert message.reason is NotifyReason.FIRST


async def test_silence_added_after_announcement_stops_repeats_and_keeps_it_known(
    store: SqlStore, sender: RecordingSender, clock: FakeClock
) -> None:
    p = NotifyPipeline(make_config(route={"receiver": "ops", "repeat_interval": "1h"}),
                       store, sender, clock)
    p.kick(await sweep(store, [finding("d1")], clock.now()))
    await p.flush(clock.now(), ignore_wait=True)
    await store.add_silence(
        SilenceDraft(
            (Matcher("rule_id", "=~", "kandji\\..*"),),
            starts_at=clock.now(), ends_at=clock.now() + timedelta(hours=3),
            comment="", author="ana", created_at=clock.now(),
        ),
    )
    clock.advance(timedelta(hours=2))
    assert await p.flush(clock.now(), ignore_wait=True) == []  # no repeat, no "resolved"
    clock.advance(timedelta(hours=1, minutes=1))
    [reminder] = await p.flush(clock.now(), ignore_wait=True)
    assert reminder.reason is NotifyReason.REPEAT  # known already: a reminder, not news


async def test_recurring_window_across_midnight_holds_news_until_morning(
    store: SqlStore, sender: RecordingSender
) -> None:
    # Friday 2026-01-09 23:30 in Paris (22:30 UTC), inside a 22:00-06:00 window.
    clock = FakeClock(datetime(2026, 1, 9, 22, 30, tzinfo=UTC))
    config = make_config(silences=[{
        "matchers": [{"name": "source", "value": "acme"}],
        "every": {"days": ["fri"], "start": "22:00", "end": "06:00",
                  "timezone": "Europe/Paris"},
    }])
    p = NotifyPipeline(config, store, sender, clock)
    p.kick(await sweep(store, [finding("d1")], clock.now()))
    assert await p.flush(clock.now(), ignore_wait=True) == []
    clock.set(datetime(2026, 1, 10, 4, 59, tzinfo=UTC))  # 05:59 Paris
    assert await p.flush(clock.now(), ignore_wait=True) == []
    clock.set(datetime(2026, 1, 10, 5, 0, tzinfo=UTC))  # 06:00 Paris
    [message] = await p.flush(clock.now(), ignore_wait=True)
    assert message.reason is NotifyReason.FIRST
