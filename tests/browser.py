"""Headless Chromium for the tests that look at the status page in a real browser.

The policy: a test marked :data:`needs_chromium` is skipped only when Chromium is missing
and ``CI`` is unset; under CI a missing browser is a failure. Screenshots go to
:data:`OUTPUT` (``test-output/``) for a human to look at.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

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


class DevToolsPage:
    """One page of a headless Chromium driven over the DevTools protocol (a websocket).

    The page itself runs no script of the monitor's (there is none); the test reads the
    DOM and fills in forms through DevTools, as a user's clicks and typing would.
    """

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events met meanwhile are kept)."""
        self._next_id += 1
        sent = self._next_id
        await self._ws.send_json({"id": sent, "method": method, "params": params})
        while True:
            message = await asyncio.wait_for(self._ws.receive_json(), timeout=60)
            if message.get("id") == sent:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    async def wait_for_event(self, method: str) -> dict[str, Any]:
        """The next event named ``method`` (one already received counts)."""
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        while True:
            message = await asyncio.wait_for(self._ws.receive_json(), timeout=60)
            if message.get("method") == method:
                return dict(message)
            self.events.append(message)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (run by DevTools)."""
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def screenshot(self, width: int, height: int) -> bytes:
        """A PNG of the page at ``width`` x ``height`` CSS pixels."""
        await self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                        deviceScaleFactor=1, mobile=False)
        shot = await self.call("Page.captureScreenshot", format="png")
        return base64.b64decode(shot["data"])


@contextlib.asynccontextmanager
async def devtools_page(profile: Path, url: str) -> AsyncIterator[DevToolsPage]:
    """Headless Chromium showing ``url``, driven through DevTools (see DevToolsPage)."""
    if CHROMIUM is None:
        pytest.fail("Chromium is required under CI: install it (apt-get install -y chromium)")
    import aiohttp

    from tests.servers import free_port

    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}",
        f"--remote-debugging-port={port}", "about:blank",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as http:
            ws_url = None
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while ws_url is None:
                if loop.time() > deadline:
                    pytest.fail("Chromium's DevTools did not answer within 60s")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                        targets = await resp.json()
                        ws_url = next((t["webSocketDebuggerUrl"] for t in targets
                                       if t.get("type") == "page"), None)
                if ws_url is None:
                    await asyncio.sleep(0.05)
            async with http.ws_connect(ws_url, max_msg_size=64 * 1024 * 1024) as ws:
                page = DevToolsPage(ws)
                await page.call("Page.enable")
                await page.call("Log.enable")
                await page.call("Page.navigate", url=url)
                await page.wait_for_event("Page.loadEventFired")
                yield page
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
