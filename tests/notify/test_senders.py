"""Senders against real servers on loopback: aiosmtpd for email, aiohttp for webhooks."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
import structlog
from pydantic import SecretStr

from monitor.clock import FakeClock
from monitor.config import ReceiverConfig
from monitor.errors import DeliveryError
from monitor.notify import AppriseSender, ConsoleSender, MultiSender, NotifyPipeline
from monitor.notify.outgoing import Outgoing
from monitor.notify.sender import default_sender, scrub
from monitor.store import OutboxState, open_store
from tests.notify.helpers import finding, make_config, sweep
from tests.servers import Mailbox, Webhook, mailto_url, smtp_server, webhook_server

PASSWORD = "pa55-W0rd-7f3a9c"  # a test credential that must never leak
PATH_TOKEN = "T0KEN-b8e1d2c4a6"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with smtp_server(PASSWORD) as served:
        yield served


def mail_url(port: int) -> str:
    return mailto_url(port, PASSWORD)


@pytest.fixture
async def webhook() -> AsyncIterator[tuple[Webhook, int]]:
    async with webhook_server(f"/hooks/{PATH_TOKEN}") as served:
        yield served


class _RecordList(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def receiver(*urls: str, **extra: Any) -> ReceiverConfig:
    return ReceiverConfig(name="ops", urls=[SecretStr(u) for u in urls], **extra)


async def test_email_reaches_a_real_smtp_server(smtp: tuple[Mailbox, int]) -> None:
    handler, port = smtp
    await AppriseSender(timeout=20).deliver(
        receiver(mail_url(port)), Outgoing("[FIRING:1] rule", "<p>Mac <b>d1</b></p>", "html")
    )
    [message] = handler.received
    assert message["Subject"] == "[FIRING:1] rule"
    assert message["To"] == "ops@example.com"
    kinds = {part.get_content_type() for part in message.walk()}
    assert {"text/plain", "text/html"} <= kinds


async def test_webhook_reaches_a_real_http_server(webhook: tuple[Webhook, int]) -> None:
    hook, port = webhook
    url = f"json://127.0.0.1:{port}/hooks/{PATH_TOKEN}"
    await AppriseSender(timeout=20).deliver(
        receiver(url), Outgoing("title here", "body here", "text")
    )
    [body] = hook.bodies
    assert body["title"] == "title here"
    assert body["message"] == "body here"


async def test_failed_webhook_raises_delivery_error_without_the_url(
    webhook: tuple[Webhook, int], caplog: pytest.LogCaptureFixture
) -> None:
    hook, port = webhook
    hook.status = 500
    url = f"json://monitor:{PASSWORD}@127.0.0.1:{port}/hooks/{PATH_TOKEN}"
    caplog.set_level(logging.DEBUG)
    # what the application's own handlers (on the root logger) would see
    seen = _RecordList()
    root = logging.getLogger()
    root.addHandler(seen)
    try:
        with pytest.raises(DeliveryError) as caught:
            await AppriseSender(timeout=20).deliver(receiver(url), Outgoing("t", "b", "text"))
    finally:
        root.removeHandler(seen)
    assert not [r for r in seen.records if r.name.startswith("apprise")]
    text = str(caught.value)
    assert "1 of 1 target(s) failed" in text
    assert "#1 json" in text
    assert caught.value.retryable
    # every record but the test server's own access log
    ours = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith("aiohttp")
    )
    for leaked in (PASSWORD, PATH_TOKEN, url):
        assert leaked not in text
        assert leaked not in ours
        assert leaked not in repr(caught.value)


async def test_invalid_url_is_reported_by_position_not_value() -> None:
    sender = AppriseSender(timeout=5)
    bad = receiver(f"nosuchscheme://{PASSWORD}@host")
    assert sender.check(bad) == ["#1 nosuchscheme: not a valid apprise URL"]
    with pytest.raises(DeliveryError) as caught:
        await sender.deliver(bad, Outgoing("t", "b", "text"))
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "url", "expected"),
    [
        ("error talking to host.example", "json://host.example/x", "error talking to ***"),
        (f"login {PASSWORD} refused", f"mailto://u:{PASSWORD}@h", "login *** refused"),
        ("from= kept", "mailto://h?from=a@b.example", "from= kept"),
        ("json is fine", "json://h.example/abc", "json is fine"),
    ],
)
def test_scrub_removes_every_url_fragment(text: str, url: str, expected: str) -> None:
    assert scrub(text, [url]) == expected


async def test_console_sender_prints_text_and_reduces_html() -> None:
    out = io.StringIO()
    console = ConsoleSender(out)
    await console.deliver(
        ReceiverConfig(name="ops", console=True), Outgoing("Title", "<p>a &amp; b</p>", "html")
    )
    printed = out.getvalue()
    assert "[ops] Title" in printed
    assert "a & b" in printed
    assert "<p>" not in printed
    silent = io.StringIO()
    await ConsoleSender(silent).deliver(receiver("json://x"), Outgoing("t", "b", "text"))
    assert silent.getvalue() == ""


async def test_multi_sender_sends_to_console_and_apprise(webhook: tuple[Webhook, int]) -> None:
    hook, port = webhook
    out = io.StringIO()
    both = MultiSender(ConsoleSender(out), AppriseSender(timeout=20))
    r = receiver(f"json://127.0.0.1:{port}/hooks/{PATH_TOKEN}", console=True)
    await both.deliver(r, Outgoing("t", "hello", "text"))
    assert "hello" in out.getvalue()
    assert len(hook.bodies) == 1


async def test_smtp_refusing_for_a_while_then_accepting_delivers_everything_in_order(
    smtp: tuple[Mailbox, int], tmp_path: Any
) -> None:
    handler, port = smtp
    handler.refuse = 3
    clock = FakeClock()
    config = make_config(
        receivers=[{"name": "mail", "urls": [mail_url(port)]}],
        route={"receiver": "mail", "group_by": ["rule_id"]},
        notify={"outbox": {"backoff_base": "10s", "max_attempts": 10}},
    )
    async with open_store(tmp_path / "m.db") as store:
        p = NotifyPipeline(config, store, AppriseSender(timeout=20), clock)
        other = "kandji.parameter.failed"
        with structlog.testing.capture_logs() as logs:
            p.kick(await sweep(store, [finding("d1"), finding("d2", rule=other)], clock.now()))
            await p.flush(clock.now(), ignore_wait=True)
            await p.deliver_due()
            clock.advance(timedelta(minutes=5))
            p.kick(await sweep(store, [finding("d2", rule=other)], clock.now()))
            await p.flush(clock.now(), ignore_wait=True)
            for _ in range(20):
                await p.deliver_due()
                if (await store.outbox_counts())[OutboxState.PENDING] == 0:
                    break
                clock.advance(timedelta(minutes=2))
        assert (await store.outbox_counts())[OutboxState.DEAD] == 0
    assert handler.refused == 3
    subjects = [str(m["Subject"]) for m in handler.received]
    first_group = [s for s in subjects if "library-item" in s]
    assert [s.split("]")[0] for s in first_group] == ["[FIRING:1", "[RESOLVED:1"]
    assert len([s for s in subjects if "parameter" in s]) == 1
    failures = [entry for entry in logs if entry["event"] == "notify.delivery_failed"]
    assert failures
    rendered = json.dumps(logs, default=str)
    assert PASSWORD not in rendered
    assert mail_url(port) not in rendered


async def test_default_sender_prints_console_receivers_to_the_given_stream() -> None:
    out = io.StringIO()
    sender = default_sender(make_config(), console=out)
    await sender.deliver(
        ReceiverConfig(name="ops", console=True), Outgoing("hello", "world", "text")
    )
    assert "world" in out.getvalue()
