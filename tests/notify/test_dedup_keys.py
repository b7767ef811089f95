"""Every message carries its group's stable key; PagerDuty, Opsgenie and JSON webhooks
receive it (the real apprise, posting to loopback servers), so a resend updates the same
incident and a resolution closes it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from apprise.plugins import opsgenie, pagerduty

from monitor.config import ReceiverConfig
from monitor.models import NotifyReason
from monitor.notify.envelope import Envelope, dedup_key
from monitor.notify.outgoing import Outgoing
from monitor.notify.sender import GROUP_KEY_HEADER, AppriseSender, keyed_url


def text(title: str, body: str, envelope: Envelope) -> Outgoing:
    """A text message of one group."""
    return Outgoing(title, body, "text", envelope)


GROUP = 'root.1:pager:{"rule_id":"kandji.library-item.failed","source":"acme"}'
OTHER = 'root.1:pager:{"rule_id":"kandji.parameter.failed","source":"acme"}'


@dataclass
class Recorder:
    """A loopback HTTP service recording each JSON POST and its headers."""

    base_url: str = ""
    posts: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)

    async def _record(self, request: web.Request) -> web.Response:
        self.posts.append((request.path, dict(request.headers), await request.json()))
        return web.json_response(
            {"result": "Request will be processed", "took": 0.01, "requestId": "r-1",
             "status": "success", "dedup_key": "x"},
            status=202,
        )


@asynccontextmanager
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()
    app = web.Application()
    app.router.add_post("/{tail:.*}", rec._record)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield rec
    finally:
        await runner.cleanup()


def receiver(*urls: str) -> ReceiverConfig:
    return ReceiverConfig.model_validate({"name": "pager", "urls": list(urls)})


def test_the_dedup_key_is_stable_short_and_distinct_per_group() -> None:
    assert dedup_key(GROUP) == dedup_key(GROUP)
    assert dedup_key(GROUP) != dedup_key(OTHER)
    assert len(dedup_key(GROUP + "x" * 10_000)) == 43
    assert dedup_key(GROUP).startswith("cm-")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("pagerduty://ikey@rkey", {"dedup", "action"}),
        ("pagerduty://ikey@rkey?dedup=mine", {"action"}),
        ("pagerduty://ikey@rkey?action=trigger", {"dedup"}),
        ("opsgenie://apikey/@team", {"alias"}),
        ("opsgenie://apikey/@team?alias=mine", set()),
        ("json://hooks.example.com/x", {"+" + GROUP_KEY_HEADER, ":group_key"}),
        ("slack://a/b/c", set()),
    ],
)
def test_the_key_goes_where_the_service_understands_one_unless_already_given(
    url: str, expected: set[str]
) -> None:
    keyed, _ = keyed_url(url, Envelope(GROUP, NotifyReason.FIRST, firing=1))
    added = keyed[len(url):].lstrip("?&")
    names = {part.split("=", 1)[0] for part in added.split("&") if part}
    assert {n.replace("%2B", "+") for n in names} == expected


async def test_pagerduty_gets_one_dedup_key_per_group_and_resolves_with_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with recorder() as svc:
        monkeypatch.setitem(pagerduty.PAGERDUTY_API_LOOKUP, "us", svc.base_url + "/v2/enqueue")
        rcv = receiver("pagerduty://integrationkey@routingkey")
        sender = AppriseSender(timeout=10)
        await sender.deliver(rcv, text("3 failing", "three devices",
                                       Envelope(GROUP, NotifyReason.FIRST, firing=3)))
        await sender.deliver(rcv, text("4 failing", "four devices",
                                       Envelope(GROUP, NotifyReason.FIRST, firing=4)))
        await sender.deliver(rcv, text("1 failing", "another rule",
                                       Envelope(OTHER, NotifyReason.FIRST, firing=1)))
        await sender.deliver(rcv, text("all resolved", "recovered",
                                       Envelope(GROUP, NotifyReason.RESOLVED, resolved=4)))
    events = [body for _, _, body in svc.posts]
    assert [e["event_action"] for e in events] == ["trigger", "trigger", "trigger", "resolve"]
    assert events[0]["dedup_key"] == events[1]["dedup_key"] == dedup_key(GROUP)
    assert events[2]["dedup_key"] == dedup_key(OTHER)
    assert events[3]["dedup_key"] == dedup_key(GROUP)


async def test_opsgenie_gets_the_key_as_its_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    async with recorder() as svc:
        monkeypatch.setitem(opsgenie.OPSGENIE_API_LOOKUP, "us", svc.base_url + "/v2/alerts")
        rcv = receiver("opsgenie://apikey")
        sender = AppriseSender(timeout=10)
        for firing in (2, 3):
            await sender.deliver(rcv, text(f"{firing} failing", "body",
                                           Envelope(GROUP, NotifyReason.FIRST, firing=firing)))
    aliases = [body["alias"] for path, _, body in svc.posts if path == "/v2/alerts"]
    assert aliases == [dedup_key(GROUP), dedup_key(GROUP)]


async def test_a_json_webhook_gets_the_key_as_a_header_and_a_field() -> None:
    async with recorder() as svc:
        url = svc.base_url.replace("http://", "json://") + "/hook"
        await AppriseSender(timeout=10).deliver(
            receiver(url), text("t", "b", Envelope(GROUP, NotifyReason.REPEAT, firing=1))
        )
    [(path, headers, body)] = svc.posts
    assert path == "/hook"
    assert headers[GROUP_KEY_HEADER] == dedup_key(GROUP)
    assert body["group_key"] == dedup_key(GROUP)
    assert body["title"] == "t"
