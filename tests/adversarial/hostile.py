"""A hostile Kandji tenant on loopback, and the CLI run against it.

:func:`hostile_kandji` serves ``GET /api/v1/devices`` with the documented example
devices (tests/fixtures), whose names are replaced by what a test wants: a megabyte of
text, the bearer token the request came with (an API that echoes it), Markdown links,
mentions, forged lines, terminal escapes. ``huge`` streams a body of that many bytes
without holding it in memory.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.adversarial.support import HANG_GUARD, Result

EXAMPLES = Path(__file__).parent.parent / "fixtures" / "kandji" / "examples"
DEVICES = EXAMPLES / "device-information" / "list-devices" / "01-list-devices.json"

NameFor = Callable[[int, str], str]
"""``name_for(index, token)``: the device name to serve for the device at ``index``."""

EVERY_MAC_RULES = """\
rules:
  - id: test.every-mac
    description: Every Mac fires, so every device name reaches a message.
    source: kandji
    subject: device
    match: {platform: Mac}
    severity: critical
    summary: "{{ device.name }} is a Mac"
"""


@dataclass
class Hostile:
    """What the hostile tenant served and was asked."""

    base_url: str = ""
    requests: int = 0
    bytes_sent: int = 0
    seen_tokens: list[str] = field(default_factory=list)


@asynccontextmanager
async def hostile_kandji(
    name_for: NameFor | None = None, *, huge: int = 0
) -> AsyncIterator[Hostile]:
    """Serve the device list with hostile names, or a body of ``huge`` bytes."""
    state = Hostile()
    devices: list[dict[str, Any]] = json.loads(DEVICES.read_text())

    async def list_devices(request: web.Request) -> web.StreamResponse:
        state.requests += 1
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        state.seen_tokens.append(token)
        if huge:
            resp = web.StreamResponse(headers={"Content-Type": "application/json"})
            await resp.prepare(request)
            chunk = b"[" + b" " * (1 << 20)
            sent = 0
            try:
                while sent < huge:
                    await resp.write(chunk)
                    sent += len(chunk)
                    state.bytes_sent += len(chunk)
                    chunk = b" " * (1 << 20)
            except (ConnectionResetError, RuntimeError):
                pass  # the client gave up reading, as it should
            return resp
        offset = int(request.query.get("offset", "0"))
        if offset:
            return web.json_response([])
        body = []
        for i, device in enumerate(devices):
            d = dict(device)
            if name_for is not None:
                d["device_name"] = name_for(i, token)
            d["platform"] = "Mac"
            body.append(d)
        return web.json_response(body)

    app = web.Application()
    app.router.add_get("/api/v1/devices", list_devices)
    app.router.add_get("/api/v1/devices/", list_devices)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield state
    finally:
        await runner.cleanup()


def write_config(folder: Path, base_url: str, token: str, *, receivers: str = "") -> Path:
    """A config (per-device sweep, the every-Mac rule, a console receiver) in ``folder``."""
    (folder / "rules.yaml").write_text(EVERY_MAC_RULES)
    path = folder / "config.yaml"
    path.write_text(
        f"""\
sources:
  - name: acme
    kind: kandji
    url: {base_url}
    token: {token}
    strategy: per_device
    retry: {{max_attempts: 1}}
rules:
  builtin: false
  files: [rules.yaml]
receivers:
  - name: console
    console: true
    format: text
{receivers}
route:
  receiver: console
store:
  path: state/monitor.db
web:
  enabled: false
log:
  level: warning
  format: json
"""
    )
    return path


async def run_cli(*args: str, cwd: Path | None = None) -> Result:
    """The CLI in a subprocess while this event loop keeps serving the hostile tenant."""
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin"}, cwd=cwd,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), HANG_GUARD)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"compliance-monitor {' '.join(args)} hung") from None
    assert proc.returncode is not None
    return Result(
        proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
        time.monotonic() - started,
    )
