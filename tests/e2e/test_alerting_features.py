"""What people get, end to end: simulated tenant -> App.sweep_source -> store -> pipeline ->
apprise -> a receiver on loopback, with time on a fake clock.

Each test drives the daemon's stages by hand (sweep, evaluate the groups, deliver), so
what happens at which fake instant is exact: routing with ``continue`` and per-route
timers, big groups, ``keep_firing_for``, a maintenance window over a DST night,
inhibition by a silent device, the first start, Slack and email formats, and a
receiver that is down for hours.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import apprise
import pytest
import yaml

from monitor.app import App
from monitor.clock import FakeClock
from monitor.config import load_config
from monitor.notify.templates import RenderedMessage
from monitor.simulator.kandji import Fleet, FleetSpec
from monitor.store import OutboxState
from tests.e2e.alerting_support import (  # noqa: F401 - fresh_logging is a fixture
    Delivery,
    Webhook,
    fresh_logging,
    names,
    quiet_spec,
    set_status,
    slots,
    tenant,
    webhook,
    write_config,
)
from tests.servers import Mailbox, smtp_server

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday

RULES = """\
version: 1
defaults:
  source: kandji
rules:
  - id: test.item.error
    description: The item failed & needs a look <!channel>.
    subject: library_item
    match: {status: ERROR}
    severity: warning
    labels: {team: endpoint}
    summary: "{{ subject.name }} is in ERROR on {{ device.name }}"
  - id: test.item.incompatible
    subject: library_item
    match: {status: INCOMPATIBLE}
    severity: critical
    labels: {team: endpoint}
    summary: "{{ subject.name }} cannot run on {{ device.name }}"
  - id: test.item.changing
    subject: library_item
    match: {status: CHANGE_PENDING}
    severity: info
    summary: "{{ subject.name }} is changing on {{ device.name }}"
  - id: test.item.flapping
    subject: library_item
    match: {status: INSTALLING}
    keep_firing_for: 10m
    severity: warning
    summary: "{{ subject.name }} is installing on {{ device.name }}"
"""

pytestmark = pytest.mark.usefixtures("fresh_logging")


@dataclass
class Rig:
    """The daemon's stages over a simulated tenant, driven by hand on a fake clock."""

    app: App
    clock: FakeClock
    fleet: Fleet
    hook: Webhook

    async def sweep(self) -> None:
        """One sweep of the tenant, committed."""
        result = await self.app.sweep_source("acme")
        assert result.ok, result

    async def notify(self, *, ignore_wait: bool = False) -> list[Delivery]:
        """Evaluate the groups due now and deliver what is due; what was delivered."""
        before = len(self.hook.deliveries)
        await self.app.flush_notifications(ignore_wait=ignore_wait)
        await self.app.deliver_notifications()
        return self.hook.deliveries[before:]

    async def step(self, seconds: float, *, sweep: bool = True) -> list[Delivery]:
        """Let ``seconds`` pass, sweep (unless told not to), evaluate and deliver."""
        self.clock.advance(seconds)
        if sweep:
            await self.sweep()
        return await self.notify()

    def of(self, receiver: str) -> list[Delivery]:
        """Everything ``receiver`` got so far."""
        return self.hook.of(receiver)


def block(key: str, value: Any) -> str:
    """One top-level YAML block of the config file."""
    return yaml.safe_dump({key: value}, sort_keys=False)


@asynccontextmanager
async def rig(
    tmp_path: Path,
    *,
    receivers: list[dict[str, Any]],
    route: dict[str, Any],
    extra: dict[str, Any] | None = None,
    spec: FleetSpec | None = None,
    start: datetime = T0,
    disabled: Sequence[str] = (),
) -> AsyncIterator[Rig]:
    """A rig whose receivers without ``urls`` deliver to the webhook at /hook/NAME."""
    clock = FakeClock(start)
    async with tenant(spec or quiet_spec(devices=12), clock=clock) as (url, sim), \
            webhook() as hook:
        listed = [{"urls": [hook.url(r["name"])], **r} for r in receivers]
        cfg = write_config(
            tmp_path, kandji_url=url, rules=RULES, receivers=block("receivers", listed),
            route=block("route", route),
            extra="".join(block(k, v) for k, v in (extra or {}).items()), disabled=disabled,
        )
        async with App(load_config(cfg), clock=clock, web_enabled=False) as app:
            yield Rig(app, clock, sim.fleet, hook)


def lines_of(delivery: Delivery) -> list[str]:
    return delivery.body.splitlines()


# ------------------------------------------------------------------ routing


async def test_route_tree_sends_each_alert_where_it_belongs_on_that_routes_timers(
    tmp_path: Path,
) -> None:
    route = {
        "receiver": "ops", "group_wait": "1m", "group_interval": "5m", "repeat_interval": "4h",
        "routes": [
            # critical item problems page at once, and still go to their team (continue)
            {"receiver": "pager", "match": {"severity": "critical"},
             "match_re": {"rule_id": r"test\.item\..*"}, "continue": True, "group_wait": "0s"},
            {"receiver": "endpoint", "match": {"team": "endpoint"}, "group_wait": "2m"},
        ],
    }
    receivers = [{"name": "ops"}, {"name": "pager"}, {"name": "endpoint"}]
    async with rig(tmp_path, receivers=receivers, route=route) as r:
        broken, incompatible, changing = slots(r.fleet, 3)
        set_status(r.fleet, broken, "ERROR")
        set_status(r.fleet, incompatible, "INCOMPATIBLE")
        set_status(r.fleet, changing, "CHANGE_PENDING")
        await r.sweep()

        assert [d.receiver for d in await r.notify()] == ["pager"]  # group_wait 0s
        [page] = r.of("pager")
        assert page.title.startswith("[FIRING:1] test.item.incompatible")
        assert incompatible.device_name in page.body

        assert [d.receiver for d in await r.step(60, sweep=False)] == ["ops"]  # root: 1m
        assert r.of("ops")[0].title.startswith("[FIRING:1] test.item.changing")

        team = await r.step(60, sweep=False)  # the endpoint route waits 2m
        assert sorted(d.title.split(" on ")[0] for d in team) == [
            "[FIRING:1] test.item.error", "[FIRING:1] test.item.incompatible"]
        assert {d.receiver for d in team} == {"endpoint"}
        # nobody hears twice, and the regex route did not take the warning
        assert len(r.of("pager")) == 1
        assert len(r.of("ops")) == 1
        assert await r.step(600) == []


async def test_the_notification_type_follows_severity_so_receivers_colour_it(
    tmp_path: Path,
) -> None:
    """apprise's type (Slack and Teams colour by it): a critical alert firing is a
    failure, a warning or info one a warning, a recovery a success."""
    route = {"receiver": "ops", "group_wait": "0s", "group_by": ["rule_id"]}
    async with rig(tmp_path, receivers=[{"name": "ops"}], route=route) as r:
        broken, incompatible, changing = slots(r.fleet, 3)
        set_status(r.fleet, broken, "ERROR")              # warning
        set_status(r.fleet, incompatible, "INCOMPATIBLE")  # critical
        set_status(r.fleet, changing, "CHANGE_PENDING")    # info
        await r.sweep()
        kinds = {d.title.split(" on ")[0]: d.kind for d in await r.notify()}
        assert kinds == {
            "[FIRING:1] test.item.error": "warning",
            "[FIRING:1] test.item.incompatible": "failure",
            "[FIRING:1] test.item.changing": "warning",
        }
        set_status(r.fleet, incompatible, "PASS")
        [recovered] = await r.step(600)
        assert recovered.title.startswith("[RESOLVED:1] test.item.incompatible")
        assert recovered.kind == "success"


# ------------------------------------------------------------------ big groups


async def test_a_sweep_breaking_30_devices_makes_one_message_listing_5_and_counting_the_rest(
    tmp_path: Path,
) -> None:
    receivers = [{"name": "ops", "max_devices": 5}]
    route = {"receiver": "ops", "group_wait": "30s"}
    async with rig(tmp_path, receivers=receivers, route=route,
                   spec=quiet_spec(devices=40)) as r:
        for slot in slots(r.fleet, 30):
            set_status(r.fleet, slot, "ERROR")
        await r.sweep()
        assert await r.notify() == []
        [message] = await r.step(30, sweep=False)
        assert message.title == '[FIRING:30] test.item.error on 30 devices (kandji "acme")'
        body = lines_of(message)
        assert body[0] == '30 new alerts (kandji "acme").'
        assert "Firing on 30 devices (30 alerts):" in body
        assert sum(1 for line in body if line.startswith("- ") and "(serial" in line) == 5
        assert "...and 25 more devices" in body


# ------------------------------------------------------------------ keep_firing_for


async def test_an_item_flapping_inside_keep_firing_for_is_one_alert_resolved_once(
    tmp_path: Path,
) -> None:
    route = {"receiver": "ops", "group_wait": "0s", "group_interval": "1m"}
    async with rig(tmp_path, receivers=[{"name": "ops"}], route=route) as r:
        [item] = slots(r.fleet, 1)
        timeline = ["INSTALLING", "PASS", "INSTALLING", "PASS", "PASS", "PASS", "PASS"]
        got: list[list[str]] = []
        for n, status in enumerate(timeline):
            set_status(r.fleet, item, status)
            got.append(names(await r.step(0 if n == 0 else 300)))
        assert [len(g) for g in got] == [1, 0, 0, 0, 0, 1, 0]
        assert got[0][0].startswith("[FIRING:1] test.item.flapping")
        # down at +15m, held through +20m, resolved at +25m: ten minutes after it stopped
        assert got[5][0].startswith("[RESOLVED:1] test.item.flapping")


# ------------------------------------------------------------------ maintenance windows


async def test_a_saturday_night_window_in_paris_ends_at_six_local_time_across_dst(
    tmp_path: Path,
) -> None:
    # 2026-03-29: Paris moves from UTC+1 to UTC+2 at 02:00. The window 22:00-06:00 that
    # starts on Saturday ends on Sunday at 06:00 CEST, which is 04:00 UTC.
    start = datetime(2026, 3, 28, 21, 30, tzinfo=UTC)  # Saturday 22:30 in Paris
    extra = {"silences": [{
        "matchers": [{"name": "source", "value": "acme"}],
        "comment": "weekend patching",
        "every": {"days": ["sat"], "start": "22:00", "end": "06:00",
                  "timezone": "Europe/Paris"},
    }]}
    route = {"receiver": "ops", "group_wait": "0s", "group_interval": "1m"}
    async with rig(tmp_path, receivers=[{"name": "ops"}], route=route, extra=extra,
                   start=start) as r:
        [item] = slots(r.fleet, 1)
        set_status(r.fleet, item, "ERROR")
        await r.sweep()
        assert await r.notify() == []
        # 03:59 UTC on Sunday is 05:59 in Paris: still inside
        quiet = await r.step((datetime(2026, 3, 29, 3, 59, tzinfo=UTC) - start).total_seconds())
        assert quiet == []
        [news] = await r.step(60)  # 04:00 UTC, 06:00 in Paris
        assert news.title.startswith("[FIRING:1] test.item.error")
        assert r.clock.now() == datetime(2026, 3, 29, 4, 0, tzinfo=UTC)


# ------------------------------------------------------------------ inhibition


async def test_a_silent_device_raises_one_device_alert_and_mutes_its_items_until_it_returns(
    tmp_path: Path,
) -> None:
    route = {"receiver": "ops", "group_wait": "0s", "group_interval": "1m"}
    extra = {"inhibit": {"silent_after": "1h"}}
    async with rig(tmp_path, receivers=[{"name": "ops"}], route=route, extra=extra) as r:
        [item] = slots(r.fleet, 1)
        set_status(r.fleet, item, "ERROR")
        await r.sweep()
        [first] = await r.notify()
        assert first.title.startswith("[FIRING:1] test.item.error")

        r.fleet.go_silent(item.device_id)
        got = [await r.step(30 * 60) for _ in range(3)]
        silent = [d for batch in got for d in batch]
        assert names(silent) == [
            '[FIRING:1] monitor.device.silent on 1 device (kandji "acme")']
        assert "1 alert(s) on it are muted" in silent[0].body
        assert item.device_name in silent[0].body

        # It recovers while silent: muted, so nothing is said yet.
        set_status(r.fleet, item, "PASS")
        assert await r.step(30 * 60) == []

        # Back: the device alert resolves and the item's resolution is told.
        r.fleet.check_in(item.device_id)
        back = await r.step(5 * 60)
        assert sorted(names(back)) == [
            '[RESOLVED:1] monitor.device.silent on 1 device (kandji "acme")',
            '[RESOLVED:1] test.item.error on 1 device (kandji "acme")',
        ]


# ------------------------------------------------------------------ first start


@pytest.mark.parametrize("first_start", ["baseline", "announce"])
async def test_first_start_baselines_or_announces_what_already_fails(
    tmp_path: Path, first_start: str
) -> None:
    route = {"receiver": "ops", "group_wait": "0s", "group_interval": "1m"}
    extra = {"notify": {"first_start": first_start}}
    async with rig(tmp_path, receivers=[{"name": "ops"}], route=route, extra=extra) as r:
        old_a, old_b, new = slots(r.fleet, 3)
        set_status(r.fleet, old_a, "ERROR")
        set_status(r.fleet, old_b, "ERROR")
        await r.sweep()
        first = await r.notify()
        if first_start == "baseline":
            assert first == []
        else:
            assert names(first) == ['[FIRING:2] test.item.error on 2 devices (kandji "acme")']

        set_status(r.fleet, new, "ERROR")
        set_status(r.fleet, old_a, "PASS")
        [later] = await r.step(300)
        assert new.device_name in later.body
        if first_start == "baseline":
            # only the news: the baseline is neither shown firing nor resolved
            assert later.title == '[FIRING:1] test.item.error on 1 device (kandji "acme")'
            assert old_a.device_name not in later.body
            assert old_b.device_name not in later.body
        else:
            assert later.title == (
                '[FIRING:2] test.item.error on 2 devices, 1 resolved (kandji "acme")')
            assert old_a.device_name in later.body


async def test_a_rule_added_later_takes_what_it_finds_as_its_baseline(tmp_path: Path) -> None:
    route = {"receiver": "ops", "group_wait": "0s", "group_interval": "1m"}
    extra = {"notify": {"first_start": "baseline"}}
    async with rig(tmp_path, receivers=[{"name": "ops"}], route=route, extra=extra,
                   disabled=["test.item.changing"]) as r:
        changing, later = slots(r.fleet, 2)
        set_status(r.fleet, changing, "CHANGE_PENDING")
        await r.sweep()
        assert await r.notify() == []
    # The administrator enables the rule and restarts (same database): what the rule
    # finds at once is its baseline; what it finds afterwards is news.
    async with rig(tmp_path, receivers=[{"name": "ops"}], route=route, extra=extra,
                   start=T0 + timedelta(hours=1)) as r:
        set_status(r.fleet, changing, "CHANGE_PENDING")
        await r.sweep()
        assert await r.notify() == []
        set_status(r.fleet, later, "CHANGE_PENDING")
        [news] = await r.step(300)
        assert news.title.startswith("[FIRING:1] test.item.changing")
        assert later.device_name in news.body
        assert changing.device_name not in news.body


# ------------------------------------------------------------------ formats


def slack_sees(message: RenderedMessage) -> str:
    """What Slack is sent: apprise's Slack plugin's rendering of the Markdown body."""
    plugin = apprise.Apprise.instantiate("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7F")
    assert plugin is not None
    assert message.body_format == "markdown"
    return str(plugin.dialect_convert(message.body, apprise.NotifyFormat.MARKDOWN))


async def test_slack_gets_mrkdwn_with_bold_bullets_and_escaped_text(tmp_path: Path) -> None:
    receivers = [{"name": "slack", "urls": ["slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXr"],
                  "max_devices": 3}]
    route = {"receiver": "slack", "group_wait": "0s"}
    async with rig(tmp_path, receivers=receivers, route=route) as r:
        broken = slots(r.fleet, 5)
        for slot in broken:
            set_status(r.fleet, slot, "ERROR")
        await r.sweep()
        [message] = await r.app.preview_notifications()
        text = slack_sees(message).splitlines()
        assert text[0] == '*5 new alerts* (kandji "acme")'
        # the rule's description: & escaped once, <!channel> shown, not a mention
        assert text[1] == ("Rule `test.item.error` (warning): The item failed &amp; needs a "
                           "look &lt;!channel&gt;.")
        assert "*Firing on 5 devices* (5 alerts):" in text
        bullets = [line for line in text if line.startswith("\u2022 ")]
        assert len(bullets) == 3
        first = min(broken, key=lambda s: s.device_name.casefold())
        assert bullets[0].startswith(f"\u2022 *{first.device_name}* (serial `")
        assert "_...and 2 more devices_" in text
        assert "**" not in "\n".join(text)


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    # no AUTH: the receiver's mailto:// URL carries no credentials
    with smtp_server("") as served:
        yield served


async def test_email_has_an_html_part_and_a_readable_plain_text_part(
    tmp_path: Path, smtp: tuple[Mailbox, int]
) -> None:
    box, port = smtp
    mail = (f"mailto://127.0.0.1:{port}?from=monitor@example.com&to=it@example.com"
            "&smtp=127.0.0.1&mode=insecure")
    receivers = [{"name": "mail", "urls": [mail], "max_devices": 2}]
    route = {"receiver": "mail", "group_wait": "0s"}
    async with rig(tmp_path, receivers=receivers, route=route) as r:
        broken = slots(r.fleet, 3)
        for slot in broken:
            set_status(r.fleet, slot, "ERROR")
        await r.sweep()
        await r.notify()
    [message] = box.received
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == '[FIRING:3] test.item.error on 3 devices (kandji "acme")'
    assert message.get_content_type() == "multipart/alternative"
    html_part = message.get_body(("html",))
    text_part = message.get_body(("plain",))
    assert html_part is not None
    assert text_part is not None
    html = html_part.get_content()
    text = [line.strip() for line in text_part.get_content().splitlines() if line.strip()]
    listed = sorted(broken, key=lambda s: s.device_name.casefold())[:2]
    assert "<li><strong>" in html
    assert "&lt;!channel&gt;" in html
    assert text[0] == '3 new alerts (kandji "acme").'
    assert text[1] == ("- Rule test.item.error (warning): The item failed & needs a look "
                       "<!channel>.")
    assert "Firing on 3 devices (3 alerts)" in text
    for slot in listed:
        [line] = [t for t in text if t.startswith(f"- {slot.device_name} (serial ")]
        assert line.endswith(f"): {slot.item_name} (ERROR)")
    assert "...and 1 more device" in text


# ------------------------------------------------------------------ a receiver down


@pytest.mark.parametrize(
    ("hours", "outbox"),
    [
        # A short outage, well inside any retry horizon.
        (3, {"max_attempts": 12}),
        # Overnight, on the default horizon (48 attempts, backing off from 10s to 1h: ~39h).
        (10, {}),
    ],
)
async def test_a_receiver_down_for_hours_gets_everything_in_order_when_it_comes_back(
    tmp_path: Path, hours: int, outbox: dict[str, Any]
) -> None:
    route = {"receiver": "ops", "group_by": ["device_id"], "group_wait": "30s",
             "group_interval": "5m", "repeat_interval": "12h"}
    extra = {"notify": {"outbox": outbox}}
    async with rig(tmp_path, receivers=[{"name": "ops"}], route=route, extra=extra) as r:
        a, b, c = slots(r.fleet, 3)
        r.hook.down.add("ops")
        set_status(r.fleet, a, "ERROR")
        set_status(r.fleet, b, "ERROR")
        plan = {30: (c, "ERROR"), 60: (a, "PASS"), 120: (b, "PASS"), 150: (c, "PASS")}
        await r.sweep()
        await r.notify()
        for minute in range(5, hours * 60 + 1, 5):  # hours of sweeps, every delivery refused
            if minute in plan:
                slot, status = plan[minute]
                set_status(r.fleet, slot, status)
            await r.step(300)
        assert r.of("ops") == []
        assert r.hook.refused >= 10
        counts = await r.app.status.outbox_counts()
        assert counts[OutboxState.PENDING] == 6
        assert counts[OutboxState.DEAD] == 0

        r.hook.down.clear()
        for _ in range(12):  # the next attempts are at most backoff_max (1h) away
            await r.step(300)
        got = r.of("ops")
        per_device = {
            s.device_name: [d.title.split(" ")[0] for d in got if s.device_name in d.body]
            for s in (a, b, c)
        }
        assert per_device == {
            a.device_name: ["[FIRING:1]", "[RESOLVED:1]"],
            b.device_name: ["[FIRING:1]", "[RESOLVED:1]"],
            c.device_name: ["[FIRING:1]", "[RESOLVED:1]"],
        }
        assert (await r.app.status.outbox_counts())[OutboxState.PENDING] == 0
