"""Headless Chromium for the tests that look at the status page in a real browser.

The policy: a test marked :data:`needs_chromium` is skipped only when Chromium is missing
and ``CI`` is unset; under CI a missing browser is a failure. Screenshots go to
:data:`OUTPUT` (``test-output/``) for a human to look at.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import struct
from pathlib import Path

import pytest

OUTPUT = Path(__file__).resolve().parents[1] / "test-output"


def find_chromium() -> str | None:
    """Debian's chromium, if installed."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


CHROMIUM = find_chromium()

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="Chromium is not installed (apt-get install chromium); under CI this test runs",
)


async def run_chromium(profile: Path, *args: str) -> bytes:
    """Run headless Chromium once (without blocking the event loop); its stdout."""
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
