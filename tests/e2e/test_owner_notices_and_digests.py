"""Owner notices and digests end to end: a simulated Kandji tenant, the daemon's
stages on a fake clock, apprise delivering to a real SMTP server (aiosmtpd) and to a
loopback webhook.

- The device's user gets one e-mail in the send window (none before it, none during
  the grace period, none twice in one window), a reminder the next working day, and
  IT gets the escalation after two days; the address never reaches a log line.
- Once the item is fixed, the user hears "your device is compliant again" once, in the
  next send window (unless the receiver says ``send_resolved: false``).
- A weekly digest arrives at the SMTP server at its slot (Monday 09:00 Paris), with
  the trend chart attached as a PNG, and not before.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.app import App
from monitor.clock import FakeClock
from monitor.config import load_config
from monitor.leasing import DUTIES
from monitor.log import configure_logging
from monitor.simulator.kandji import Fleet
from monitor.store import SqlStore, open_store
from tests.e2e.alerting_support import (
    Slot,
    Webhook,
    eventually,
    fresh_logging,  # noqa: F401 (a fixture)
    quiet_spec,
    set_status,
    tenant,
    webhook,
    write_config,
)
from tests.servers import Mailbox, mailto_url, smtp_server

pytestmark = pytest.mark.usefixtures("fresh_logging")

PASSWORD = "smtp-pass-41c7"
# Monday 2026-01-05, 07:00 UTC = 08:00 in Paris: an hour before the window opens.
MONDAY_7 = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
HOUR = 3600.0

RULES = """\
version: 1
rules:
  - id: test.item.failed
    source: kandji
    subject: library_item
    match:
      status: ERROR
    severity: warning
    labels: {audience: owner}
    summary: "{{ subject.name }} is {{ subject.status }} on {{ device.name }}"
    remedy: Open Self Service and install the item again.
"""


@pytest.fixture
def log_lines(fresh_logging: None) -> io.StringIO:  # noqa: F811
    """Every log line of the test, as JSON, in one buffer (logging restored after)."""
    buffer = io.StringIO()
    configure_logging("debug", "json", stream=buffer)
    return buffer


@dataclass
class Rig:
    app: App
    clock: FakeClock
    fleet: Fleet
    mailbox: Mailbox
    hook: Webhook
    store: SqlStore  # the daemon's database, opened a second time to look inside
    peer: App | None = None  # a second instance on the same store, when asked for

    async def step_to(self, when: datetime) -> None:
        """Move the clock to ``when``, sweep, evaluate and deliver."""
        self.clock.set(when)
        result = await self.app.sweep_source("acme")
        assert result.ok, result
        await self.app.flush_notifications(ignore_wait=True)
        await self.app.deliver_notifications()


def owned_slot(fleet: Fleet) -> tuple[Slot, str]:
    """A (device, item) whose device has an assigned user, and that user's address."""
    for i in fleet.device_indices():
        dev = fleet.device(i)
        if dev.user is None:
            continue
        item = next((s.item for s in fleet.device_items(i) if not s.item.is_profile), None)
        if item is None:
            continue
        return Slot(dev.id, dev.name, item.id, item.name), dev.user.email
    raise AssertionError("no device with a user")


@asynccontextmanager
async def rig(tmp_path: Path, *, digests: list[dict[str, Any]] | None = None,
              start: datetime = MONDAY_7, send_resolved: bool = True,
              peer: bool = False) -> AsyncIterator[Rig]:
    clock = FakeClock(start)
    with smtp_server(PASSWORD) as (mailbox, port):
        async with tenant(quiet_spec(devices=12), clock=clock) as (url, sim), \
                webhook() as hook:
            receivers = [
                {"name": "it", "urls": [hook.url("it")]},
                {"name": "it-mail", "urls": [mailto_url(port, PASSWORD, "it@example.com")]},
                {"name": "owners", "urls": [mailto_url(port, PASSWORD, "nobody@example.com")],
                 "send_resolved": send_resolved,
                 "owner": {
                     "grace": "1h",
                     "window": {"days": ["mon", "tue", "wed", "thu", "fri"],
                                "start": "09:00", "end": "17:00",
                                "timezone": "Europe/Paris"},
                     "remind_every": "1d",
                     "escalate": {"receiver": "it", "after": "2d"},
                 }},
            ]
            route = {"receiver": "it", "group_wait": "0s", "routes": [
                {"match": {"audience": "owner"}, "receiver": "owners"}]}
            extra = yaml.safe_dump({"digests": digests}) if digests else ""
            cfg = write_config(
                tmp_path, kandji_url=url, rules=RULES,
                receivers=yaml.safe_dump({"receivers": receivers}, sort_keys=False),
                route=yaml.safe_dump({"route": route}, sort_keys=False), extra=extra,
            )
            config = load_config(cfg)
            named = [config.model_copy(update={"store": config.store.model_copy(
                update={"instance": name})}) for name in ("one", "two")]
            async with contextlib.AsyncExitStack() as stack:
                app = await stack.enter_async_context(
                    App(named[0], clock=clock, web_enabled=False))
                other = await stack.enter_async_context(
                    App(named[1], clock=clock, web_enabled=False)) if peer else None
                store = await stack.enter_async_context(open_store(config.store))
                yield Rig(app, clock, sim.fleet, mailbox, hook, store, other)


def owner_mail(mailbox: Mailbox, address: str) -> list[EmailMessage]:
    return [m for m in mailbox.received if address in str(m["To"])]


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


async def test_owner_gets_one_notice_in_the_window_then_a_reminder_then_it_escalates(
    tmp_path: Path, log_lines: io.StringIO
) -> None:
    async with rig(tmp_path) as r:
        slot, address = owned_slot(r.fleet)
        set_status(r.fleet, slot, "ERROR")

        await r.step_to(MONDAY_7)                         # fires; grace, window closed
        await r.step_to(MONDAY_7 + timedelta(minutes=59))  # still in grace
        assert r.mailbox.received == []

        await r.step_to(MONDAY_7 + timedelta(hours=1))    # 09:00 Paris: the notice
        [notice] = owner_mail(r.mailbox, address)
        assert notice["Subject"] == "1 item on your device needs attention"
        body = html_of(notice)
        for text in (slot.device_name, slot.item_name, "ERROR",
                     "Open Self Service and install the item again."):
            assert text in body
        assert address not in body

        await r.step_to(MONDAY_7 + timedelta(hours=3))   # same window: nothing more
        await r.step_to(MONDAY_7 + timedelta(hours=9))    # 17:00 Paris: closed
        await r.step_to(MONDAY_7 + timedelta(hours=24))   # Tuesday 08:00 Paris: closed
        assert len(r.mailbox.received) == 1
        assert r.hook.of("it") == []

        await r.step_to(MONDAY_7 + timedelta(hours=25))   # Tuesday 09:00: the reminder
        assert [str(m["Subject"]) for m in owner_mail(r.mailbox, address)][1:] == [
            "Reminder: 1 item on your device needs attention"]
        assert r.hook.of("it") == []

        await r.step_to(MONDAY_7 + timedelta(hours=49))   # Wednesday: two days -> IT
        [escalation] = r.hook.of("it")
        assert escalation.title.startswith("[ESCALATED:1]")
        assert slot.device_name in escalation.body
        assert address not in escalation.title + escalation.body
        assert address[0] + "***@" in escalation.body
        assert len(owner_mail(r.mailbox, address)) == 3  # and a second reminder

        await r.step_to(MONDAY_7 + timedelta(hours=50))
        assert len(r.hook.of("it")) == 1                  # escalated once

    logged = log_lines.getvalue()
    assert "notify.owner_evaluated" in logged
    assert address not in logged
    assert address.split("@")[0] not in logged


@pytest.mark.parametrize("send_resolved", [True, False])
async def test_owner_hears_once_in_the_next_window_that_the_device_is_compliant_again(
    tmp_path: Path, log_lines: io.StringIO, send_resolved: bool
) -> None:
    async with rig(tmp_path, send_resolved=send_resolved) as r:
        slot, address = owned_slot(r.fleet)
        set_status(r.fleet, slot, "ERROR")
        await r.step_to(MONDAY_7)
        await r.step_to(MONDAY_7 + timedelta(hours=1))    # 09:00 Paris: the notice
        assert len(owner_mail(r.mailbox, address)) == 1

        set_status(r.fleet, slot, "PASS")                 # the user fixes it
        await r.step_to(MONDAY_7 + timedelta(hours=2))    # resolved; this window is used
        await r.step_to(MONDAY_7 + timedelta(hours=9))    # 17:00 Paris: closed
        await r.step_to(MONDAY_7 + timedelta(hours=24))   # Tuesday 08:00: closed
        assert len(owner_mail(r.mailbox, address)) == 1

        await r.step_to(MONDAY_7 + timedelta(hours=25))   # Tuesday 09:00
        await r.step_to(MONDAY_7 + timedelta(hours=26))
        await r.step_to(MONDAY_7 + timedelta(hours=49))   # Wednesday: nothing more
        mails = owner_mail(r.mailbox, address)
        assert r.hook.of("it") == []                      # fixed: nothing for IT
        if not send_resolved:
            assert len(mails) == 1
            return
        assert [str(m["Subject"]) for m in mails] == [
            "1 item on your device needs attention", "Your device is compliant again"]
        body = html_of(mails[1])
        for text in (slot.device_name, slot.item_name, "fixed", "nothing more to do"):
            assert text in body
        assert address not in body
        assert await r.store.owner_records() != {}
        assert all(not rec.items for rec in (await r.store.owner_records()).values())
    logged = log_lines.getvalue()
    assert '"reason": "resolved"' in logged
    assert address not in logged


async def test_dry_run_preview_shows_owner_messages_with_the_address_masked(
    tmp_path: Path,
) -> None:
    async with rig(tmp_path) as r:
        slot, address = owned_slot(r.fleet)
        set_status(r.fleet, slot, "ERROR")
        _, _, messages = await r.app.preview_once()
        [owner] = [m for m in messages if m.receiver == "owners"]
        assert owner.to == address[0] + "***@" + address.split("@")[1]
        assert slot.item_name in owner.body
        assert address not in owner.title + owner.body
        assert await r.store.owner_records() == {}  # the preview changed nothing
        assert r.mailbox.received == []


async def test_weekly_digest_arrives_by_mail_with_its_chart_at_its_slot(tmp_path: Path) -> None:
    digests = [{"name": "weekly-it", "receiver": "it-mail",
                "schedule": {"days": ["mon"], "at": "09:00", "timezone": "Europe/Paris"}}]
    # Sunday 2026-01-04 12:00 UTC: the digest's first slot is the next morning, 08:00 UTC.
    start = datetime(2026, 1, 4, 12, 0, tzinfo=UTC)
    async with rig(tmp_path, digests=digests, start=start) as r:
        slot, _ = owned_slot(r.fleet)
        set_status(r.fleet, slot, "ERROR")
        await r.step_to(start)
        runner = asyncio.create_task(r.app.digests.run())
        try:
            await eventually(lambda: r.clock.sleepers > 0, what="the digest loop to sleep")
            assert "weekly-it" in await r.store.digest_runs()

            r.clock.set(datetime(2026, 1, 5, 7, 59, tzinfo=UTC))  # a minute early
            await eventually(lambda: r.clock.sleepers > 0, what="the digest loop to sleep")
            it_mail = [m for m in r.mailbox.received if "it@example.com" in str(m["To"])]
            assert it_mail == []

            r.clock.set(datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
            await eventually(lambda: any("it@example.com" in str(m["To"])
                                         for m in r.mailbox.received),
                             what="the digest e-mail")
        finally:
            r.app.stop()
            await runner
        [digest] = [m for m in r.mailbox.received if "it@example.com" in str(m["To"])]
        assert str(digest["Subject"]).startswith("[DIGEST] weekly-it: 1 alert firing on 1 device")
        body = html_of(digest)
        assert "test.item.failed" in body
        assert slot.device_name in body
        [png] = list(digest.iter_attachments())
        assert png.get_filename() == "trend.png"
        data = png.get_payload(decode=True)
        assert isinstance(data, bytes)
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        (tmp_path / "digest.html").write_text(body)
        (tmp_path / "trend.png").write_bytes(data)


async def test_two_instances_on_one_store_tell_an_owner_once_and_send_a_digest_once(
    tmp_path: Path,
) -> None:
    """Owner notices and digests are the cluster's duties: whichever instance holds the
    duties lease does them, the other one stays quiet, so nothing reaches a person twice."""
    digests = [{"name": "weekly-it", "receiver": "it-mail",
                "schedule": {"days": ["mon"], "at": "09:00", "timezone": "Europe/Paris"}}]
    async with rig(tmp_path, digests=digests, peer=True) as r:
        assert r.peer is not None
        apps = [r.app, r.peer]
        slot, address = owned_slot(r.fleet)
        set_status(r.fleet, slot, "ERROR")

        async def step_to(when: datetime, *, only: App | None = None) -> None:
            r.clock.set(when)
            for app in apps:
                await app.leases.tick()
            [sweeper] = [a for a in apps if a.leases.holds("acme") is not None]
            assert (await sweeper.sweep_source("acme")).ok
            for app in apps if only is None else [only]:
                await app.flush_notifications(ignore_wait=True)
                await app.deliver_notifications()
                await app.digests.tick(r.clock.now())

        await step_to(MONDAY_7)
        [dutiful] = [a for a in apps if a.leases.holds(DUTIES) is not None]
        [other] = [a for a in apps if a is not dutiful]
        # 09:00 Paris: the notice and the digest are due, but not from this instance
        await step_to(MONDAY_7 + timedelta(hours=1), only=other)
        assert r.mailbox.received == []
        await step_to(MONDAY_7 + timedelta(hours=1, minutes=1), only=dutiful)
        await step_to(MONDAY_7 + timedelta(hours=1, minutes=5))
        assert len(owner_mail(r.mailbox, address)) == 1
        digest_mail = [m for m in r.mailbox.received if "it@example.com" in str(m["To"])]
        assert len(digest_mail) == 1
        assert str(digest_mail[0]["Subject"]).startswith("[DIGEST] weekly-it")
