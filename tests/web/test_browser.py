"""The status page in a real browser (headless Chromium): it renders, and a screenshot is kept.

Skipped only when Chromium is missing on a developer machine; under CI (``CI`` set) a
missing browser is a failure. The screenshots land in ``test-output/`` for a human to look at.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import struct
from pathlib import Path

import pytest

from monitor.clock import FakeClock
from monitor.metrics import Metrics
from monitor.web.app import build_web_app
from tests.web.conftest import Serve
from tests.web.sample import NOW, sample_provider


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


CHROMIUM = _find_chromium()
OUTPUT = Path(__file__).resolve().parents[2] / "test-output"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None and not os.environ.get("CI"),
        reason="Chromium is not installed (apt-get install chromium); under CI this test runs",
    ),
]


async def run_chromium(profile: Path, *args: str) -> bytes:
    """Run headless Chromium once and return its stdout."""
    if CHROMIUM is None:
        pytest.fail("Chromium is required under CI: install it (apt-get install -y chromium)")
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=120)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        pytest.fail("Chromium did not finish within 120s")
    assert proc.returncode == 0, stderr.decode(errors="replace")[-2000:]
    return stdout


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


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
