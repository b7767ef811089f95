"""The status page in a real browser (headless Chromium): it renders, and a screenshot is kept.

Skipped only when Chromium is missing on a developer machine; under CI (``CI`` set) a
missing browser is a failure. The screenshots land in ``test-output/`` for a human to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.clock import FakeClock
from monitor.metrics import Metrics
from monitor.web.app import build_web_app
from tests.browser import OUTPUT, needs_chromium, png_size, run_chromium
from tests.web.conftest import Serve
from tests.web.sample import NOW, sample_provider

pytestmark = [pytest.mark.slow, needs_chromium]


async def test_status_page_renders_in_chromium_and_a_screenshot_is_saved(
    serve: Serve, tmp_path: Path
) -> None:
    app = build_web_app(sample_provider(), Metrics(), token=None, clock=FakeClock(NOW))
    base = await serve(app)

    dom = (await run_chromium(tmp_path / "dom", "--dump-dom", base + "/")).decode()
    assert 'id="firing"' in dom
    firing = dom.split('<section id="firing">', 1)[1].split("</section>", 1)[0]
    assert "kandji.filevault.off" in firing
    assert "Maria's MacBook Pro" in firing
    assert "C02XL0AAJGH5" in firing
    silences = dom.split('<section id="silences">', 1)[1].split("</section>", 1)[0]
    assert 'device_name=~"lab-.*"' in silences
    assert "Lab machines are reimaged every night" in silences

    OUTPUT.mkdir(exist_ok=True)
    shot = OUTPUT / "status-page.png"
    full = OUTPUT / "status-page-full.png"
    for path, size in ((shot, "1400,1000"), (full, "1400,2200")):
        path.unlink(missing_ok=True)
        await run_chromium(
            tmp_path / path.stem, f"--screenshot={path}", f"--window-size={size}", base + "/"
        )
        assert png_size(path) == tuple(int(n) for n in size.split(","))
        assert path.stat().st_size > 20_000  # a blank page compresses to far less
