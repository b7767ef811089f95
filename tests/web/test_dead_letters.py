"""Undelivered notifications (dead letters) on the status page and in the JSON API."""

from __future__ import annotations

import dataclasses
import html
from datetime import timedelta

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from monitor.clock import FakeClock
from monitor.log import REDACTED, register_secret
from monitor.metrics import Metrics
from monitor.models import AlertState
from monitor.web.app import build_web_app
from monitor.web.provider import StaticStatusProvider
from monitor.web.view import DeadLetterView, summarize
from tests.web.conftest import Serve
from tests.web.sample import NOW, sample_alerts, sample_provider, sample_sources

TOKEN = "web-token-dead-5e21c9"


def dead_letter(message_id: int, *, error: str = "HTTP 500 from the webhook") -> DeadLetterView:
    """A message to ``ops-slack`` given up on five minutes before NOW."""
    return DeadLetterView(
        id=message_id,
        receiver="ops-slack",
        group_title="[FIRING:2] kandji.filevault.off (acme-macs)",
        group_key="ops-slack|rule_id=kandji.filevault.off",
        reason="firing",
        attempts=8,
        last_error=error,
        created_at=NOW - timedelta(hours=2),
        failed_at=NOW - timedelta(minutes=5),
    )


def make_app(provider: StaticStatusProvider, *, token: str | None = None) -> web.Application:
    """The web app over ``provider``, with time frozen at the sample's NOW."""
    return build_web_app(
        provider, Metrics(), token=SecretStr(token) if token else None, clock=FakeClock(NOW)
    )


def calm_provider(*dead: DeadLetterView) -> StaticStatusProvider:
    """Nothing firing, every source healthy: only the dead letters can make it look bad."""
    calm = [a for a in sample_alerts() if a.state is not AlertState.FIRING]
    healthy = [dataclasses.replace(s, healthy=True) for s in sample_sources()]
    return StaticStatusProvider(calm, healthy, [], dead_letters=dead)


async def get_text(http: aiohttp.ClientSession, url: str, **kw: object) -> tuple[int, str]:
    async with http.get(url, **kw) as resp:  # type: ignore[arg-type]
        return resp.status, await resp.text()


def test_dead_letters_make_an_otherwise_calm_picture_degraded() -> None:
    calm = calm_provider()
    s = summarize(calm.alert_views, calm.source_views, [])
    assert (s.status, s.dead_letters) == ("ok", 0)
    s = summarize(calm.alert_views, calm.source_views, [], [dead_letter(1), dead_letter(2)])
    assert (s.status, s.dead_letters) == ("degraded", 2)
    # Something firing is still what the headline says first.
    s = summarize(sample_alerts(), sample_sources(), [], [dead_letter(1)])
    assert s.status == "firing"


async def test_page_shows_undelivered_messages_with_the_retry_hint(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    base = await serve(make_app(calm_provider(dead_letter(41), dead_letter(42))))
    status, page = await get_text(http, base + "/")
    assert status == 200
    assert 'class="top status-degraded"' in page
    assert "2 undelivered messages" in page
    section = page.split('<section id="undelivered"', 1)[1].split("</section>", 1)[0]
    assert "Undelivered messages" in section
    assert "compliance-monitor outbox retry ID" in section
    assert 'id="dead-letter-41"' in section
    assert 'id="dead-letter-42"' in section
    assert "ops-slack" in section
    assert html.escape("[FIRING:2] kandji.filevault.off (acme-macs)") in section
    assert "HTTP 500 from the webhook" in section
    assert "5m ago" in section
    summary_bar = page.split('<section class="summary"', 1)[1].split("</section>", 1)[0]
    assert "Undelivered" in summary_bar
    assert 'href="#undelivered"' in summary_bar


async def test_page_has_no_undelivered_section_without_dead_letters(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    base = await serve(make_app(sample_provider()))
    _, page = await get_text(http, base + "/")
    assert 'id="undelivered"' not in page
    assert "Undelivered" not in page


async def test_api_lists_dead_letters_and_status_counts_them(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    base = await serve(make_app(calm_provider(dead_letter(7))))
    async with http.get(base + "/api/dead-letters") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body == {
        "dead_letters": [
            {
                "id": 7,
                "receiver": "ops-slack",
                "group_title": "[FIRING:2] kandji.filevault.off (acme-macs)",
                "group_key": "ops-slack|rule_id=kandji.filevault.off",
                "reason": "firing",
                "attempts": 8,
                "last_error": "HTTP 500 from the webhook",
                "created_at": (NOW - timedelta(hours=2)).isoformat(),
                "failed_at": (NOW - timedelta(minutes=5)).isoformat(),
            }
        ]
    }
    async with http.get(base + "/api/status") as resp:
        doc = await resp.json()
    assert doc["status"] == "degraded"
    assert doc["summary"]["dead_letters"] == 1
    assert [d["id"] for d in doc["dead_letters"]] == [7]


async def test_a_secret_in_a_last_error_is_redacted_again(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    hook_secret = "hooks-secret-path-9d0f3e77"
    register_secret(hook_secret)
    leaky = dead_letter(3, error=f"POST https://hooks.example/{hook_secret} failed: 503")
    base = await serve(make_app(calm_provider(leaky), token=TOKEN))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for path in ("/", "/api/dead-letters", "/api/status"):
        status, body = await get_text(http, base + path, headers=auth)
        assert status == 200, path
        assert hook_secret not in body, path
        assert REDACTED in body, path


async def test_a_failing_dead_letter_read_gives_503(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    class Broken(StaticStatusProvider):
        async def dead_letters(self) -> list[DeadLetterView]:
            raise RuntimeError("outbox table locked")

    base = await serve(make_app(Broken()))
    status, body = await get_text(http, base + "/api/dead-letters")
    assert status == 503
    assert "locked" not in body
    status, _ = await get_text(http, base + "/")
    assert status == 503
