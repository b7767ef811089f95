"""Finding 9: a store that cannot record sweeps is not silent.

A real daemon sweeps a tenant on loopback every second and serves /readyz. Another
process then holds the database locked: the sweeps still run but cannot be recorded, so
nothing could ever be announced. /readyz must say so (503, naming the store) and the
source must not show healthy; when the lock goes, both recover.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from tests.adversarial.hostile import hostile_kandji, write_config
from tests.servers import free_port

TOKEN = "hostile-test-token-0009"


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 90) -> None:
    """Poll ``check`` until it holds (the daemon works on its own schedule)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"never: {what}")
        await asyncio.sleep(0.2)


async def test_a_locked_store_fails_readiness_and_recovers(tmp_path: Path) -> None:
    port = free_port()
    async with hostile_kandji() as kandji, aiohttp.ClientSession() as http:
        cfg = write_config(tmp_path, kandji.base_url, TOKEN)
        cfg.write_text(
            cfg.read_text()
            .replace("web:\n  enabled: false\n", f"web:\n  port: {port}\n")
            .replace("    strategy: per_device\n", "    strategy: per_device\n    interval: 1s\n")
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor.cli", "run", "-c", str(cfg),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            env={"PATH": "/usr/bin:/bin"},
        )
        base = f"http://127.0.0.1:{port}"

        async def readyz() -> tuple[int, str]:
            try:
                async with http.get(base + "/readyz") as resp:
                    return resp.status, await resp.text()
            except aiohttp.ClientConnectionError:
                return 0, ""

        async def ready() -> bool:
            return (await readyz())[0] == 200

        async def store_not_ready() -> bool:
            status, text = await readyz()
            # a sweep refused by the store, or the lease keeper unable to renew: either
            # way the store is named
            return status == 503 and ("store: cannot record sweeps" in text
                                      or "store: cannot be written" in text)

        try:
            await eventually(ready, "ready after the first sweep")
            holder = sqlite3.connect(tmp_path / "state" / "monitor.db", isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")
            try:
                await eventually(store_not_ready, "/readyz names the store")
                async with http.get(base + "/api/sources") as resp:
                    [source] = (await resp.json())["sources"]
                assert source["healthy"] is False
                assert "store" in source["last_error"]
            finally:
                holder.execute("ROLLBACK")
                holder.close()
            await eventually(ready, "ready again once the store is writable")
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
