"""A digest to a channel that takes no attachment carries its chart's link instead.

A simulated Kandji tenant with one failing item; the digest goes through the real
apprise plugins to real loopback servers:

- a Slack incoming webhook (apprise's Slack plugin, its host pointed at the loopback):
  apprise claims attachments for every Slack URL, but a webhook cannot upload files and
  drops them with a warning; the digest carries ``chart_link`` and no upload is tried;
- a Mattermost incoming webhook (``mmost://``, on the loopback as it is): no
  attachment, no ``chart_link`` configured: a note says the chart is not attached;
- a ``json://`` webhook, which does take attachments (apprise embeds them, base64):
  the PNG travels in the post and no link line is added.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import apprise
import pytest
import yaml
from aiohttp import web

from monitor.app import App
from monitor.clock import FakeClock
from monitor.config import load_config
from monitor.notify.sender import takes_attachments
from tests.e2e.alerting_support import quiet_spec, set_status, slots, tenant, write_config
from tests.servers import SLACK_URL, slack_to_loopback, slack_webhook

CHART_LINK = "https://monitor.example.com/?q=kandji"
NOW = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@dataclass
class Posts:
    """Every POST a loopback server received: path, content type and body."""

    received: list[tuple[str, str, bytes]] = field(default_factory=list)

    def on(self, prefix: str) -> list[tuple[str, str, bytes]]:
        return [p for p in self.received if p[0].startswith(prefix)]


@asynccontextmanager
async def recorder() -> AsyncIterator[tuple[Posts, int]]:
    """A loopback server taking any POST (Mattermost's /hooks/<token>, json://...)."""
    posts = Posts()

    async def receive(request: web.Request) -> web.Response:
        posts.received.append((request.path, request.content_type, await request.read()))
        return web.Response(text="ok")

    app = web.Application(client_max_size=8 << 20)
    app.router.add_post("/{tail:.*}", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield posts, int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


def digest(name: str, receiver: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "receiver": receiver,
            "schedule": {"days": ["mon"], "at": "09:00", "timezone": "Europe/Paris"}, **extra}


async def test_channels_without_attachments_get_the_chart_link_and_no_upload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(NOW)
    async with tenant(quiet_spec(devices=6), clock=clock) as (url, sim), \
            slack_webhook() as (slack, slack_base), recorder() as (posts, port):
        slack_to_loopback(monkeypatch, slack_base)
        [slot] = slots(sim.fleet, 1)
        set_status(sim.fleet, slot, "ERROR")
        receivers = [
            {"name": "slack", "urls": [SLACK_URL]},
            {"name": "mattermost", "urls": [f"mmost://127.0.0.1:{port}/hooktoken7c2e"]},
            {"name": "hook", "urls": [f"json://127.0.0.1:{port}/digest"]},
        ]
        digests = [digest("to-slack", "slack", chart_link=CHART_LINK),
                   digest("to-mattermost", "mattermost"),
                   digest("to-hook", "hook", chart_link=CHART_LINK)]
        cfg = write_config(
            tmp_path, kandji_url=url,
            receivers=yaml.safe_dump({"receivers": receivers}, sort_keys=False),
            route=yaml.safe_dump({"route": {"receiver": "hook"}}),
            extra=yaml.safe_dump({"digests": digests}, sort_keys=False),
        )
        config = load_config(cfg)
        async with App(config, clock=clock, web_enabled=False) as app:
            assert (await app.sweep_source("acme")).ok
            for d in config.digests:
                await app.digests.send(d, NOW)

    # Slack: the text names the failing item and links the chart; nothing was uploaded.
    [payload] = slack.payloads
    text = json.dumps(payload)
    assert "[DIGEST] to-slack" in text
    assert "test.item.failed" in text
    assert f"trend.png (not attached on this channel): {CHART_LINK}" in text
    assert slack.uploads == 0
    assert "files" not in text

    # Mattermost: one JSON post to its hook, with the note instead of a link.
    [(path, ctype, body)] = posts.on("/hooks/")
    assert path == "/hooks/hooktoken7c2e"
    assert ctype == "application/json"
    mattermost = json.loads(body)
    assert "[DIGEST] to-mattermost" in mattermost["text"]
    assert "trend.png could not be attached on this channel" in mattermost["text"]
    assert "https://" not in mattermost["text"]

    # json:// takes attachments: the PNG is in the post, and no link line is added.
    [(_, _, body)] = posts.on("/digest")
    sent = json.loads(body)
    [attached] = sent["attachments"]
    assert attached["filename"] == "trend.png"
    assert base64.b64decode(attached["base64"]).startswith(b"\x89PNG\r\n\x1a\n")
    assert CHART_LINK not in sent["message"]


@pytest.mark.parametrize(
    ("url", "takes"),
    [
        (SLACK_URL, False),                                   # incoming webhook
        ("slack://xoxb-1234-1234-abc124/#general", True),     # a bot uploads files
        ("mmost://127.0.0.1:8065/hooktoken", False),
        ("json://127.0.0.1:9/x", True),                       # embedded, base64
        ("mailto://u:p@example.com?to=a@example.com", True),
        ("gchat://workspace/key/token", False),
    ],
)
def test_which_apprise_targets_take_attachments(url: str, takes: bool) -> None:
    target = apprise.Apprise()
    assert target.add(url)
    [plugin] = list(target)
    assert takes_attachments(plugin) is takes
