"""The status page's 30-day trend (inline SVG) and its text filter (a GET form).

Server side: the filter keeps the alerts whose device name, serial, rule or item holds
every word; the trend is drawn without script. In headless Chromium, driven through
DevTools like a user: typing in the filter and submitting the form reloads the page
with the matching alerts only, the chart is drawn, and the page's security policy
blocks nothing. A screenshot is kept in test-output/.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import aiohttp
import pytest

from monitor.clock import FakeClock
from monitor.metrics import Metrics
from monitor.web.app import build_web_app
from monitor.web.page import alert_matches, filter_words
from monitor.web.provider import StaticStatusProvider
from tests.browser import OUTPUT, devtools_page, needs_chromium, png_size
from tests.web.conftest import Serve
from tests.web.sample import NOW, sample_alerts, sample_provider

TREND = [(date(2025, 12, 7) + timedelta(days=n), [3, 4, 4, 6, 9, 7, 5][n % 7] + n // 3)
         for n in range(30)]


def provider_with_trend() -> StaticStatusProvider:
    p = sample_provider()
    p.trend_days = list(TREND)
    return p


@pytest.mark.parametrize(
    ("query", "devices"),
    [
        ("design", {"design-mbp-12"}),                       # device name
        ("FVFDK2A3Q6L4", {"design-mbp-12"}),                 # serial
        ("ZOOM", {"design-mbp-12"}),                         # item, any case
        ("filevault build", {"build-mac-07"}),               # every word
        ("kandji.filevault", {"Maria's MacBook Pro", "build-mac-07", "ceo-mbp"}),  # rule
        ("(a+)+$", set()),                                   # text, not a pattern
    ],
)
def test_filter_matches_device_serial_rule_and_item(query: str, devices: set[str]) -> None:
    words = filter_words(query)
    kept = {a.device_name for a in sample_alerts() if alert_matches(a, words)}
    assert kept == devices


async def test_page_filters_on_get_and_draws_the_trend(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    app = build_web_app(provider_with_trend(), Metrics(), token=None,
                        clock=FakeClock(NOW))
    base = await serve(app)
    async with http.get(base + "/", params={"q": "design"}) as resp:
        html = await resp.text()
        csp = resp.headers["Content-Security-Policy"]
    firing = html.split('<section id="firing">', 1)[1].split("</section>", 1)[0]
    assert "design-mbp-12" in firing
    assert "build-mac-07" not in firing
    assert "<svg" in html
    assert "<script" not in html
    assert 'value="design"' in html
    assert "form-action 'self'" in csp
    assert "script-src" not in csp  # still no script allowed at all

    async with http.get(base + "/", params={"q": '"><script>x</script>'}) as resp:
        html = await resp.text()
    assert "<script>x</script>" not in html
    assert "&lt;script&gt;" in html


@pytest.mark.slow
@needs_chromium
async def test_filter_form_and_trend_work_in_chromium(serve: Serve, tmp_path: Path) -> None:
    app = build_web_app(provider_with_trend(), Metrics(), token=None,
                        clock=FakeClock(NOW))
    base = await serve(app)
    async with devtools_page(tmp_path / "profile", base + "/") as page:
        assert await page.evaluate("document.querySelectorAll('svg.trend rect').length") == 30
        height = await page.evaluate(
            "document.querySelector('svg.trend').getBoundingClientRect().height")
        assert height > 50
        assert "Jon's iMac" in await page.evaluate(
            "document.querySelector('#firing').innerText")

        # Type into the filter and press its button, as a user would.
        await page.evaluate("document.querySelector('#q').value = 'design'")
        await page.evaluate("document.querySelector('form.filter button').click()")
        await page.wait_for_event("Page.loadEventFired")

        assert await page.evaluate("location.search") == "?q=design"
        firing = await page.evaluate("document.querySelector('#firing').innerText")
        assert "design-mbp-12" in firing
        assert "Jon's iMac" not in firing
        assert "2 of" in await page.evaluate("document.querySelector('#filtered').innerText")
        blocked = [e for e in page.events if e.get("method") == "Log.entryAdded"
                   and "Content Security Policy" in str(e)]
        assert blocked == []

        OUTPUT.mkdir(exist_ok=True)
        shot = OUTPUT / "status-page-trend-filter.png"
        shot.unlink(missing_ok=True)
        png = await page.screenshot(1400, 1000)
    shot.write_bytes(png)
    assert png_size(shot) == (1400, 1000)
    assert shot.stat().st_size > 20_000
