"""A real Prometheus Alertmanager on loopback, started for a test (Debian's
``prometheus-alertmanager``), with a webhook receiver of its own that records what it
notifies. Missing binary: skipped locally, a failure in CI (see tests/binaries.py)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.binaries import require_binary
from tests.servers import free_port


@dataclass
class RunningAlertmanager:
    """An Alertmanager process and what its own webhook receiver was told."""

    url: str
    notifications: list[dict[str, Any]] = field(default_factory=list)

    async def alerts(self, session: aiohttp.ClientSession) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the alerts it holds that have not ended."""
        async with session.get(f"{self.url}/api/v2/alerts") as response:
            assert response.status == 200, await response.text()
            body: list[dict[str, Any]] = await response.json()
            return body

    def notified(self, status: str) -> list[dict[str, Any]]:
        """The alerts Alertmanager notified with ``status`` (firing or resolved)."""
        return [a for n in self.notifications for a in n["alerts"] if a["status"] == status]


@asynccontextmanager
async def alertmanager(tmp_path: Path) -> AsyncIterator[RunningAlertmanager]:
    """Alertmanager on a free loopback port; its one route notifies a loopback webhook
    at once (group_wait 0s) and again on every change (group_interval 1s)."""
    binary = require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    notifications: list[dict[str, Any]] = []

    async def receive(request: web.Request) -> web.Response:
        notifications.append(await request.json())
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/am-hook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook_port = int(runner.addresses[0][1])

    config = tmp_path / "alertmanager.yml"
    config.write_text(f"""\
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:{hook_port}/am-hook
        send_resolved: true
""")
    storage = tmp_path / "alertmanager-data"
    storage.mkdir()
    port = free_port()
    log_path = tmp_path / "alertmanager.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            str(binary),
            f"--config.file={config}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_ready(url, process, log_path)
        yield RunningAlertmanager(url, notifications)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        await runner.cleanup()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


async def _wait_ready(url: str, process: asyncio.subprocess.Process, log: Path) -> None:
    """Poll ``/-/ready`` until Alertmanager answers (it takes a moment to start)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while True:
            if process.returncode is not None:
                raise AssertionError(f"alertmanager exited: {_tail(log)}")
            try:
                async with session.get(f"{url}/-/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if loop.time() > deadline:
                raise AssertionError(f"alertmanager not ready: {_tail(log)}")
            await asyncio.sleep(0.05)
