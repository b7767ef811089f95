"""Owner notices: the pure decision on a timeline, rendering, addressing, the pipeline."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from monitor.clock import FakeClock
from monitor.config import OwnerPolicy, ReceiverConfig
from monitor.models import Alert, AlertState, NotifyReason
from monitor.notify.outgoing import Outgoing
from monitor.notify.owner_stage import OwnerNotices
from monitor.notify.owners import (
    Policy,
    decide_owner,
    mask_address,
    owner_key,
    render_escalation,
    render_owner,
    render_resolved,
    with_recipient,
)
from monitor.notify.pipeline import NotifyPipeline
from monitor.notify.routing import build_routes
from monitor.sources.links import ConsoleLinks
from monitor.store import open_store
from monitor.store.base import OwnerRecord
from tests.notify.helpers import T0, finding, make_config, sweep

ADDRESS = "jane.doe@example.com"
KEY = owner_key("owners", ADDRESS)


def alert(item: str = "i1", *, since: datetime = T0, owner: str = ADDRESS) -> Alert:
    f = dataclasses.replace(finding("d1", item), owner=owner, remedy="Open Self Service.",
                            detail="exit code 1: disk full")
    return Alert(fingerprint=f.fingerprint, state=AlertState.FIRING, finding=f,
                 active_since=since, last_seen=since, firing_since=since)


def policy(**overrides: Any) -> Policy:
    base = {
        "grace": "1h",
        "window": {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00",
                   "end": "17:00", "timezone": "UTC"},
        "remind_every": "1d",
        "escalate": {"receiver": "it", "reminders": 2},
        "max_per_day": 1,
    }
    base.update(overrides)
    return Policy.of(OwnerPolicy.model_validate(base))


def run(pol: Policy, steps: Sequence[tuple[timedelta, Sequence[Alert]]],
        recovered: Sequence[str] = ()) -> list[str]:
    """Evaluate at T0 + each offset; one word per step (what happened). ``recovered``:
    the fingerprints whose alerts resolved (an item not passed is otherwise muted)."""
    record: OwnerRecord | None = None
    out = []
    for offset, alerts in steps:
        d = decide_owner(pol, record, alerts, T0 + offset, key=KEY, receiver="owners",
                         address=ADDRESS, recovered=frozenset(recovered))
        if d.record is not None:
            record = d.record
        word = d.reason.value if d.reason else (d.held or "-")
        if d.fixed:
            assert d.record is not None
            assert dict(d.record.items) == {}, "a resolved message forgets what it closes"
        if d.escalate:
            word += "+escalate"
        out.append(word)
    return out


H = timedelta(hours=1)
D = timedelta(days=1)


def test_grace_window_reminders_then_escalation() -> None:
    # T0 is Monday 09:00 UTC.
    a = [alert()]
    assert run(policy(), [
        (0 * H, a),               # in grace
        (30 * timedelta(minutes=1), a),
        (1 * H, a),               # grace over, inside the window: first notice
        (2 * H, a),               # already told in this window
        (D - 2 * H, a),           # Tuesday 07:00, outside the window, reminder not due
        (D + 1 * H, a),           # Tuesday 10:00: reminder
        (2 * D + 1 * H, a),       # Wednesday 10:00: second reminder -> escalate to IT
        (3 * D + 1 * H, a),       # Thursday: reminder, already escalated
    ]) == ["-", "-", "first", "-", "-", "repeat", "repeat+escalate", "repeat"]


def test_outside_the_window_waits_and_new_items_join_the_next_message() -> None:
    late = T0 + 7 * H  # Monday 16:00
    first, second = alert("i1", since=late), alert("i2", since=late + 30 * timedelta(minutes=1))
    assert run(policy(), [
        (8 * H + 30 * timedelta(minutes=1), [first, second]),  # 17:30: closed
        (D, [first, second]),                                   # Tuesday 09:00: both at once
    ]) == ["outside_window", "first"]


def test_daily_cap_without_a_window() -> None:
    a, b = alert("i1"), alert("i2", since=T0 + 2 * H)
    assert run(policy(window=None, max_per_day=1), [
        (1 * H, [a]), (3 * H, [a, b]), (D, [a, b]),
    ]) == ["first", "daily_cap", "first"]


def test_escalation_after_an_age() -> None:
    pol = policy(window=None, remind_every=None, escalate={"receiver": "it", "after": "3d"})
    a = [alert()]
    assert run(pol, [(1 * H, a), (2 * D, a), (3 * D + 1 * H, a), (4 * D, a)]) == [
        "first", "-", "-+escalate", "-"]


def test_an_item_that_recovers_and_fails_again_gets_a_new_grace() -> None:
    pol = policy(window=None, max_per_day=10)
    again = alert(since=T0 + 5 * H)
    assert run(pol, [(1 * H, [alert()]), (4 * H, []), (5 * H + 30 * timedelta(minutes=1),
                                                        [again]), (6 * H, [again])]) == [
        "first", "-", "-", "first"]


# ------------------------------------------------------------- compliant again

FP = alert().fingerprint


def test_the_owner_hears_once_that_everything_they_were_told_of_recovered() -> None:
    # T0 is Monday 09:00 UTC; the window is working days 09:00-17:00.
    a = [alert()]
    assert run(policy(), [
        (1 * H, a),               # Monday 10:00: the notice
        (2 * H, []),              # fixed at 11:00; the window already carried a message
        (8 * H, []),              # 17:00: closed
        (D, []),                  # Tuesday 09:00: "compliant again"
        (D + 1 * H, []),          # said once
        (2 * D + 1 * H, []),
    ], recovered=[FP]) == ["first", "window_used", "outside_window", "resolved", "-", "-"]


def test_no_compliant_again_while_something_else_fails_or_was_never_told() -> None:
    a, b = alert("i1"), alert("i2", since=T0 + 3 * H)
    pol = policy(window=None, max_per_day=10, remind_every=None, escalate=None)
    assert run(pol, [
        (1 * H, [a]),             # told of i1
        (3 * H, [b]),             # i1 fixed, i2 fails (in grace): not compliant again
        (5 * H, [b]),             # told of i2
        (6 * H, []),              # i2 fixed: only now
    ], recovered=[a.fingerprint, b.fingerprint]) == ["first", "-", "first", "resolved"]
    # An item never told of recovering is no news; a muted one is not a recovery.
    assert run(pol, [(0 * H, [a]), (30 * timedelta(minutes=1), [])],
               recovered=[a.fingerprint]) == ["-", "-"]
    assert run(pol, [(1 * H, [a]), (2 * H, [])], recovered=[]) == ["first", "-"]


def test_an_owner_who_opted_out_or_has_no_address_is_not_told() -> None:
    off = dataclasses.replace(policy(window=None), send_resolved=False)
    assert run(off, [(1 * H, [alert()]), (2 * H, [])], recovered=[FP]) == ["first", "-"]


def test_an_item_failing_again_before_compliant_again_went_is_news_again() -> None:
    again = alert(since=T0 + 9 * H)  # Monday 18:00, after the window
    assert run(policy(), [
        (1 * H, [alert()]),       # Monday 10:00: the notice
        (2 * H, []),              # fixed; held (window used)
        (9 * H, [again]),         # fails again (in grace) before the next window
        (D, [again]),             # Tuesday 09:00: no "compliant again"; the new run, new
    ], recovered=[FP]) == ["first", "window_used", "-", "first"]


def test_compliant_again_names_the_fixed_items_without_the_address() -> None:
    fixed = dataclasses.replace(alert(), state=AlertState.RESOLVED,
                                resolved_at=T0 + 2 * H)
    title, body = render_resolved([fixed], 2, T0 + 3 * H, max_items=5)
    assert title == "Your device is compliant again"
    for text in ("the 2 items we wrote to you", "Item i1", "fixed (", "1 more item"):
        assert text in body
    assert ADDRESS not in title + body


def test_it_escalations_link_each_device_and_owner_messages_do_not() -> None:
    links = ConsoleLinks({"acme": ("kandji", "https://acme.kandji.io")})
    _, body = render_escalation([alert()], ADDRESS, T0, max_items=5, links=links)
    assert '<a href="https://acme.kandji.io/devices/d1">device page</a>' in body
    _, body = render_owner(NotifyReason.FIRST, [alert()], frozenset(), T0, max_items=5)
    assert "kandji.io" not in body


def test_a_device_without_owner_goes_to_it_after_grace() -> None:
    pol = policy(window=None)
    orphan = alert(owner="")
    d = decide_owner(pol, None, [orphan], T0 + 2 * H, key=owner_key("owners", ""),
                     receiver="owners", address="")
    assert d.reason is None
    assert d.held == "no_address"
    assert [a.fingerprint for a in d.escalate] == [orphan.fingerprint]


def test_owner_title_counts_items_and_devices() -> None:
    two = [alert("i1"), alert("i2")]
    title, body = render_owner(NotifyReason.FIRST, two, frozenset({two[1].fingerprint}), T0,
                               max_items=5)
    assert title == "2 items on your device need attention"
    assert body.count("(new)") == 1  # only marked when older items are listed too


def test_owner_message_says_why_and_what_to_do_without_the_address() -> None:
    title, body = render_owner(NotifyReason.FIRST, [alert()], frozenset(), T0, max_items=5)
    assert title == "1 item on your device needs attention"
    for text in ("Item i1", "ERROR", "A library item failed its audit.", "disk full",
                 "Open Self Service."):
        assert text in body
    assert ADDRESS not in title + body


@pytest.mark.parametrize(
    ("address", "masked"),
    [("jane.doe@example.com", "j***@example.com"), ("x@y", "x***@y"), ("", "")],
)
def test_mask_address(address: str, masked: str) -> None:
    assert mask_address(address) == masked


def test_with_recipient_sets_to_and_drops_other_recipients() -> None:
    receiver = ReceiverConfig.model_validate({
        "name": "owners", "owner": {},
        "urls": ["mailto://u:p@127.0.0.1:2525?from=it@example.com&to=nobody@example.com"],
    })
    url = with_recipient(receiver, ADDRESS).urls[0].get_secret_value()
    query = parse_qs(urlsplit(url).query)
    assert query["to"] == [ADDRESS]
    assert query["from"] == ["it@example.com"]


# ----------------------------------------------------------------------- pipeline


class AddressedSender:
    """Records each message with the `to` of the receiver's first URL."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def deliver(self, receiver: ReceiverConfig, message: Outgoing) -> None:
        to = ""
        if receiver.urls:
            to = ",".join(parse_qs(urlsplit(receiver.urls[0].get_secret_value()).query)
                          .get("to", []))
        self.sent.append((receiver.name, to, message.title))


def owner_config() -> Any:
    return make_config(
        receivers=[
            {"name": "ops", "console": True},
            {"name": "it", "urls": ["json://127.0.0.1:9/it"]},
            {"name": "owners", "urls": ["mailto://u:p@127.0.0.1:9?from=it@example.com"],
             "owner": {"grace": "1h", "window": None, "remind_every": "1d",
                       "escalate": {"receiver": "it", "reminders": 1}}},
        ],
        route={"receiver": "ops", "group_wait": "0s",
               "routes": [{"match": {"team": "endpoint"}, "receiver": "owners"}]},
    )


async def test_pipeline_sends_one_message_per_owner_to_their_address(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    sender = AddressedSender()
    other = "bob@example.com"
    findings = [
        dataclasses.replace(finding("d1", "i1", labels={"team": "endpoint"}), owner=ADDRESS),
        dataclasses.replace(finding("d1", "i2", labels={"team": "endpoint"}), owner=ADDRESS),
        dataclasses.replace(finding("d2", "i1", labels={"team": "endpoint"}), owner=other),
    ]
    async with open_store(tmp_path / "m.db") as store:
        pipeline = NotifyPipeline(owner_config(), store, sender, clock)
        await sweep(store, findings, clock.now())
        await pipeline.flush(clock.now(), ignore_wait=True)
        await pipeline.deliver_due()
        assert sender.sent == []  # grace

        clock.advance(timedelta(hours=1))
        await sweep(store, findings, clock.now())
        await pipeline.flush(clock.now(), ignore_wait=True)
        await pipeline.deliver_due()
        assert sorted((r, to) for r, to, _ in sender.sent) == [
            ("owners", other), ("owners", ADDRESS)]
        assert "2 items" in next(t for _, to, t in sender.sent if to == ADDRESS)

        # A restart (new pipeline, same store) repeats nothing within the day...
        pipeline = NotifyPipeline(owner_config(), store, sender, clock)
        clock.advance(timedelta(hours=2))
        await pipeline.flush(clock.now(), ignore_wait=True)
        await pipeline.deliver_due()
        assert len(sender.sent) == 2

        # ...and a day later reminds each owner and escalates to IT (1 reminder).
        clock.advance(timedelta(days=1))
        await sweep(store, findings, clock.now())
        await pipeline.flush(clock.now(), ignore_wait=True)
        await pipeline.deliver_due()
        later = sender.sent[2:]
        assert sorted(r for r, _, _ in later) == ["it", "it", "owners", "owners"]
        assert all(t.startswith("Reminder") for r, _, t in later if r == "owners")
        assert all(to == "" for r, to, _ in later if r == "it")

        preview = await pipeline.preview(clock.now())
        assert all(ADDRESS not in m.body + m.title + m.to for m in preview)


async def test_an_alert_that_ages_out_of_the_owner_route_leaves_the_owner_notices(
    tmp_path: Path,
) -> None:
    config = make_config(
        receivers=[
            {"name": "ops", "console": True},
            {"name": "owners", "urls": ["mailto://u:p@127.0.0.1:9?from=it@example.com"],
             "owner": {"grace": "0s", "window": None, "remind_every": "1d"}},
        ],
        route={"receiver": "ops", "routes": [
            {"match": {"team": "endpoint"}, "age": {"over": "2d"}, "receiver": "ops"},
            {"match": {"team": "endpoint"}, "receiver": "owners"}]},
    )
    f = dataclasses.replace(finding("d1", "i1", labels={"team": "endpoint"}), owner=ADDRESS)
    async with open_store(tmp_path / "m.db") as store:
        await sweep(store, [f], T0)
        stage = OwnerNotices(config, store)
        root = build_routes(config.route)
        alerts = await store.load_alerts()
        [young] = await stage.plan(alerts, root, frozenset(), T0 + timedelta(hours=1))
        assert young.decision.reason is NotifyReason.FIRST
        assert await stage.plan(alerts, root, frozenset(), T0 + timedelta(days=3)) == []
