"""The web app on a real loopback server: page, JSON API, auth, probes, escaping, secrets."""

from __future__ import annotations

import base64
import dataclasses
import html
import re
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from monitor.clock import FakeClock
from monitor.log import REDACTED, register_secret
from monitor.metrics import AlertSeries, Metrics, StateSnapshot
from monitor.models import AlertState, Severity, SourceKind, SweepStats
from monitor.web.app import build_web_app
from monitor.web.page import PageOptions
from monitor.web.provider import StaticStatusProvider
from monitor.web.view import AlertView, SilenceView, SourceView, SweepView
from tests.web.conftest import Serve
from tests.web.sample import NOW, alert, sample_provider

TOKEN = "web-token-7f3a9c2e51d0"


def make_app(
    provider: StaticStatusProvider, *, token: str | None = None, metrics: Metrics | None = None
) -> web.Application:
    """The web app over ``provider``, with time frozen at the sample's NOW."""
    return build_web_app(
        provider,
        metrics or Metrics(),
        token=SecretStr(token) if token else None,
        clock=FakeClock(NOW),
    )


def firing_groups(page: str) -> list[str]:
    """The HTML of each firing group, in page order."""
    firing = page.split('<section id="firing">', 1)[1].split("</section>", 1)[0]
    return firing.split('<details class="group')[1:]


async def get_text(http: aiohttp.ClientSession, url: str, **kw: object) -> tuple[int, str]:
    async with http.get(url, **kw) as resp:  # type: ignore[arg-type]
        return resp.status, await resp.text()


# --------------------------------------------------------------------------- page


async def test_status_page_groups_firing_alerts_by_rule_and_severity(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    base = await serve(make_app(sample_provider()))
    status, page = await get_text(http, base + "/")
    assert status == 200
    groups = firing_groups(page)
    assert len(groups) == 3
    critical, lib, win = groups
    assert "kandji.filevault.off" in critical
    assert "critical" in critical
    assert "Maria&#39;s MacBook Pro" in critical
    assert "build-mac-07" in critical
    assert "C02XL0AAJGH5" in critical
    assert "H4TF93KQ0D" in critical
    assert "2 alerts on 2 devices" in critical
    assert "kandji.library-item.failed" in lib
    assert "3 alerts on 2 devices" in lib
    assert "Google Chrome" in lib
    assert "INCOMPATIBLE" in lib
    assert "lab-mini-01" not in lib  # silenced: shown apart, not among the firing
    assert "WS-FIN-014" in win
    assert 'href="https://dashboard.applivery.io/acme/mdm/devices/000000000000000000000006"' in win
    assert 'href="https://acme.kandji.io/devices/5f1c2a0e-0000-4000-8000-000000000001"' in critical


async def test_status_page_shows_summary_silenced_resolved_sources_and_silences(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    base = await serve(make_app(sample_provider()))
    _, page = await get_text(http, base + "/")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "6 firing on 5 devices" in text
    assert "Firing 6 2 critical · 4 warning" in text
    assert "Sources healthy 1 / 2" in text

    silenced = page.split('<section id="silenced">', 1)[1].split("</section>", 1)[0]
    assert "lab-mini-01" in silenced
    assert "C07LABMINI01" in silenced
    resolved = page.split('<section id="resolved">', 1)[1].split("</section>", 1)[0]
    assert "ceo-mbp" in resolved
    assert "20m ago" in resolved

    sources = page.split('<section id="sources">', 1)[1].split("</section>", 1)[0]
    windows = sources.split('id="source-acme-windows"', 1)[1].split("</article>", 1)[0]
    assert "unhealthy" in windows
    assert "connection refused by api.applivery.io" in windows
    assert "42m ago" in windows  # last success
    macs = sources.split('id="source-acme-macs"', 1)[1].split("</article>", 1)[0]
    assert "4,210" in macs
    assert "5,000/h" in macs
    assert "08:55:00" in macs
    assert "53.2s" in macs
    assert "417" in macs
    # What the whole tenant has left (every integration), and this monitor's share.
    macs_text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", macs))
    assert "Tenant's hour left 6,120 of 10,000/h" in macs_text.replace("&#39;", "'")
    assert "this monitor: 38% of what the tenant spent" in macs_text
    # The cadence the budget affords, and the configured interval that bounds it.
    assert "Sweeps every 12m 52s (at most 15m 00s" in macs_text
    assert "Tenant's hour" not in windows.replace("&#39;", "'")

    silences = page.split('<section id="silences">', 1)[1].split("</section>", 1)[0]
    assert "device_name=~&#34;lab-.*&#34;" in silences
    assert "Lab machines are reimaged every night" in silences
    assert "ops@acme.example" in silences
    assert ">active<" in silences
    assert ">expired<" in silences
    assert '<meta http-equiv="refresh" content="30">' in page


async def test_page_says_all_clear_and_not_ready_reasons(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    src = SourceView("acme-macs", SourceKind("kandji"), True, NOW, 0, "", 100.0, 5000, ())
    provider = StaticStatusProvider([], [src], [], ready=False, reasons=["store unreachable"])
    base = await serve(make_app(provider))
    _, page = await get_text(http, base + "/")
    assert "All clear" in page
    assert "Nothing is firing." in page
    assert "Not ready." in page
    assert "store unreachable" in page


async def test_page_escapes_device_names_and_refuses_non_http_links(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    evil = dataclasses.replace(
        alert(
            99,
            rule_id="kandji.library-item.failed",
            severity=Severity.WARNING,
            device_name="<script>alert('pwned')</script>",
            serial='"><img src=x onerror=alert(1)>',
            subject_name="<b>bold</b>",
            subject_status="ERROR",
        ),
        console_link="javascript:alert(1)",
    )
    base = await serve(make_app(StaticStatusProvider([evil])))
    status, page = await get_text(http, base + "/")
    assert status == 200
    assert "<script>" not in page
    assert "<img" not in page
    assert "<b>bold" not in page
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in page
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "javascript:" not in page
    async with http.get(base + "/") as resp:
        assert "script-src" not in resp.headers["Content-Security-Policy"]
        assert "default-src 'none'" in resp.headers["Content-Security-Policy"]


async def test_console_links_say_whether_they_open_the_device(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    mac = alert(1, rule_id="r", severity=Severity.WARNING, device_name="mac", serial="S1",
                subject_name="x", subject_status="ERROR")
    pc = dataclasses.replace(
        alert(2, rule_id="r", severity=Severity.WARNING, device_name="pc", serial="S2",
              subject_name="x", subject_status="ERROR", kind=SourceKind("applivery")),
        console_link="https://dashboard.applivery.io/acme", console_exact=False,
    )
    base = await serve(make_app(StaticStatusProvider([mac, pc])))
    _, page = await get_text(http, base + "/")
    anchors = {m[0]: m for m in re.findall(
        r'<a class="console" href="([^"]+)"[^>]* title="([^"]+)">([^<]+)</a>', page)}
    kandji = anchors["https://acme.kandji.io/devices/5f1c2a0e-0000-4000-8000-000000000001"]
    assert kandji[1] == "Open this device in Kandji"
    assert html.unescape(kandji[2]) == "Kandji\u00a0\u2197"
    applivery = anchors["https://dashboard.applivery.io/acme"]
    assert html.unescape(applivery[2]) == "Applivery console\u00a0\u2197"
    assert "find the device there by its serial" in html.unescape(applivery[1])


async def test_secrets_are_never_rendered(serve: Serve, http: aiohttp.ClientSession) -> None:
    kandji_token = "kandji-api-token-3b8e1f00aa"
    register_secret(kandji_token)
    src = SourceView(
        "acme-macs",
        SourceKind("kandji"),
        False,
        None,
        2,
        f"401 from https://acme.api.kandji.io with Authorization: Bearer {kandji_token}",
        None,
        5000,
        (SweepView(NOW, 1.0, False, 0, 1, 1, 0),),
    )
    leaky = dataclasses.replace(
        alert(
            1,
            rule_id="r",
            severity=Severity.INFO,
            device_name="mac",
            serial="S",
            subject_name="x",
            subject_status="y",
        ),
        summary=f"token {kandji_token} and {TOKEN}",
    )
    provider = StaticStatusProvider(
        [leaky], [src], [], ready=False, reasons=[f"bad {kandji_token}"]
    )
    base = await serve(make_app(provider, token=TOKEN))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for path in ("/", "/api/status", "/api/sources", "/api/alerts", "/readyz"):
        _, body = await get_text(http, base + path, headers=auth)
        assert kandji_token not in body, path
        assert TOKEN not in body, path
        assert REDACTED in body, path


# --------------------------------------------------------------------------- JSON


async def test_json_api_shapes(serve: Serve, http: aiohttp.ClientSession) -> None:
    base = await serve(make_app(sample_provider()))
    async with http.get(base + "/api/alerts") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        alerts = (await resp.json())["alerts"]
    assert len(alerts) == 10
    assert set(alerts[0]) == {f.name for f in dataclasses.fields(AlertView)}
    first = alerts[0]
    assert first["state"] == "firing"
    assert first["severity"] == "critical"
    assert first["source_kind"] == "kandji"
    assert first["active_since"] == "2026-01-05T04:00:00+00:00"
    assert (
        first["console_link"]
        == "https://acme.kandji.io/devices/5f1c2a0e-0000-4000-8000-000000000001"
    )

    async with http.get(base + "/api/sources") as resp:
        sources = (await resp.json())["sources"]
    assert set(sources[0]) == {f.name for f in dataclasses.fields(SourceView)}
    assert set(sources[0]["sweeps"][0]) == {f.name for f in dataclasses.fields(SweepView)}
    assert sources[1]["healthy"] is False
    assert sources[1]["budget_remaining"] is None

    async with http.get(base + "/api/silences") as resp:
        silences = (await resp.json())["silences"]
    assert set(silences[0]) == {f.name for f in dataclasses.fields(SilenceView)}
    assert silences[0]["ends_at"] == "2026-01-10T09:00:00+00:00"

    async with http.get(base + "/api/status") as resp:
        status = await resp.json()
    assert status["generated_at"] == NOW.isoformat()
    assert status["status"] == "firing"
    assert status["ready"] == {"ready": True, "reasons": []}
    assert status["summary"]["firing"] == 6
    assert status["summary"]["devices_affected"] == 5
    assert status["alerts"] == alerts
    assert status["sources"] == sources


async def test_alerts_api_filters(serve: Serve, http: aiohttp.ClientSession) -> None:
    base = await serve(make_app(sample_provider()))

    async def names(query: str) -> list[str]:
        async with http.get(base + "/api/alerts?" + query) as resp:
            return sorted(a["device_name"] for a in (await resp.json())["alerts"])

    assert await names("state=resolved") == ["Jon's iMac", "ceo-mbp"]
    assert await names("source=acme-windows") == ["WS-FIN-014"]
    assert await names("silenced=true") == ["lab-mini-01"]
    assert len(await names("state=firing&severity=warning&silenced=false")) == 4


async def test_provider_failure_gives_503_without_details(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    class Broken(StaticStatusProvider):
        async def alerts(self) -> list[AlertView]:
            raise RuntimeError("database is locked at /var/lib/secret/path.db")

        async def ready(self) -> tuple[bool, list[str]]:
            raise RuntimeError("database is locked")

    base = await serve(make_app(Broken()))
    status, page = await get_text(http, base + "/")
    assert status == 503
    assert "Status unavailable" in page
    assert "/var/lib" not in page
    status, body = await get_text(http, base + "/api/alerts")
    assert status == 503
    assert "/var/lib" not in body
    status, body = await get_text(http, base + "/readyz")
    assert status == 503
    assert "could not be read" in body
    assert (await get_text(http, base + "/api/sources"))[0] == 200
    assert (await get_text(http, base + "/healthz"))[0] == 200


# --------------------------------------------------------------------------- probes, auth


async def test_healthz_and_readyz(serve: Serve, http: aiohttp.ClientSession) -> None:
    provider = sample_provider()
    base = await serve(make_app(provider))
    assert await get_text(http, base + "/healthz") == (200, "ok\n")
    assert await get_text(http, base + "/readyz") == (200, "ready\n")

    provider.is_ready = False
    provider.reasons = [
        "source acme-windows: no successful sweep for 42m (expected every 5m)",
        "store: unreachable",
    ]
    status, body = await get_text(http, base + "/readyz")
    assert status == 503
    assert body.splitlines() == [
        "not ready",
        "- source acme-windows: no successful sweep for 42m (expected every 5m)",
        "- store: unreachable",
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/api/status",
        "/api/alerts",
        "/api/sources",
        "/api/silences",
        "/metrics",
        "/nope",
    ],
)
async def test_token_is_required_everywhere_but_the_probes(
    serve: Serve, http: aiohttp.ClientSession, path: str
) -> None:
    base = await serve(make_app(sample_provider(), token=TOKEN))
    async with http.get(base + path) as resp:
        assert resp.status == 401
        challenges = resp.headers.getall("WWW-Authenticate")
        assert any(c.startswith("Basic ") for c in challenges)
        assert TOKEN not in await resp.text()
    for wrong in ("Bearer nope", f"Bearer {TOKEN}x", "Basic !!!", f"Token {TOKEN}", "Bearer"):
        async with http.get(base + path, headers={"Authorization": wrong}) as resp:
            assert resp.status == 401, wrong
    async with http.get(base + path, headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
        assert resp.status == (404 if path == "/nope" else 200)
    basic = base64.b64encode(f"anyone:{TOKEN}".encode()).decode()
    async with http.get(base + path, headers={"Authorization": f"Basic {basic}"}) as resp:
        assert resp.status == (404 if path == "/nope" else 200)
    assert (await get_text(http, base + "/healthz")) == (200, "ok\n")


async def test_the_token_is_not_accepted_in_the_query_string(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    base = await serve(make_app(sample_provider(), token=TOKEN))
    assert (await get_text(http, f"{base}/?token={TOKEN}"))[0] == 401


async def test_metrics_endpoint_serves_the_registry(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    metrics = Metrics()
    metrics.observe_sweep(SweepStats(
        "acme-macs", NOW - timedelta(seconds=12), NOW, ok=True, budget_remaining=4210
    ))
    series = AlertSeries("kandji.filevault.off", "critical", "firing", "acme-macs")
    counts = {series: 2}
    metrics.set_state_callback(lambda: StateSnapshot(dict(counts), 1))
    base = await serve(make_app(sample_provider(), metrics=metrics))
    async with http.get(base + "/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        body = await resp.text()
    assert 'compliance_monitor_sweeps_total{result="ok",source="acme-macs"} 1.0' in body
    assert 'compliance_monitor_budget_remaining{source="acme-macs"} 4210.0' in body
    assert 'rule_id="kandji.filevault.off"' in body
    counts.clear()
    _, body = await get_text(http, base + "/metrics")
    assert 'rule_id="kandji.filevault.off"' not in body
    assert "compliance_monitor_outbox_depth 1.0" in body


async def test_html_is_well_formed_enough_for_a_parser(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    from html.parser import HTMLParser

    class Checker(HTMLParser):
        VOID = {"meta", "br", "img", "input", "link", "hr", "col"}

        def __init__(self) -> None:
            super().__init__()
            self.stack: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag not in self.VOID:
                self.stack.append(tag)

        def handle_endtag(self, tag: str) -> None:
            assert self.stack[-1:] == [tag], (tag, self.stack[-5:])
            self.stack.pop()

    base = await serve(make_app(sample_provider()))
    _, page = await get_text(http, base + "/")
    checker = Checker()
    checker.feed(page)
    assert checker.stack == []
    assert html.unescape(page).count("Kandji\xa0↗") >= 8
    assert AlertState.FIRING.value in page


async def test_a_group_larger_than_the_limit_starts_folded(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    app = build_web_app(
        sample_provider(),
        Metrics(),
        token=None,
        clock=FakeClock(NOW),
        options=PageOptions(group_open_limit=2),
    )
    base = await serve(app)
    _, page = await get_text(http, base + "/")
    openings = [g.split(">", 1)[0] for g in firing_groups(page)]
    assert openings == [
        ' panel grp-critical" open',
        ' panel grp-warning"',
        ' panel grp-warning" open',
    ]
