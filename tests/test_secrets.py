"""No secret gets out: a whole daemon run, every byte it writes scanned.

The daemon (a real ``compliance-monitor run`` process, JSON logs at debug level) watches
a simulated tenant that knows its token and misbehaves now and then (500s, resets, an
HTML 404, 429s), notifies three receivers whose apprise URLs carry passwords (one
answers, one answers 500, one refuses connections, so the error paths log), and serves
its status page behind a token. The test fetches the page, the JSON API and /metrics
(with the right token, a wrong one and Basic authentication), runs ``validate`` and
``once --dry-run``, stops the daemon, then scans everything written (stdout, stderr,
every file of the state folder including the SQLite database, the HTTP answers, what
the webhook received) for the secrets, raw, URL-quoted or base64-encoded.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO
from urllib.parse import quote

import aiohttp
import pytest
import structlog
from pydantic import SecretStr

from monitor.config import load_config
from monitor.errors import ConfigError
from monitor.log import configure_logging, register_secret
from monitor.notify.sender import AppriseSender
from monitor.simulator.kandji import KandjiSimulator, start_kandji
from monitor.sources.kandji.client import KandjiClient
from monitor.sources.kandji.config import KandjiSourceConfig
from tests.servers import Webhook, free_port, webhook_server

TOKEN = "kandji-Secret-Token-8c1f2e9a7b"
HOOK_PASSWORD = "hook-Pa55w0rd-4d7e1a"
BROKEN_PASSWORD = "broken-Pa55w0rd-6e2b9d"
DEAD_PASSWORD = "dead-Pa55w0rd-9b3c2f"
WEB_TOKEN = "web-Token-2a6f8e0c1d"
RAW_SECRETS = (TOKEN, HOOK_PASSWORD, BROKEN_PASSWORD, DEAD_PASSWORD, WEB_TOKEN)


def encodings(secret: str, user: str = "monitor") -> set[str]:
    """The forms a secret could take on the way out: raw, URL-quoted, Basic auth."""
    basic = base64.b64encode(f"{user}:{secret}".encode()).decode()
    return {secret, quote(secret, safe=""), basic, base64.b64encode(secret.encode()).decode()}


NEEDLES = sorted({form for s in RAW_SECRETS for form in encodings(s)})


def leaks(data: bytes | str) -> list[str]:
    """The secret forms found in ``data``."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return [n for n in NEEDLES if n in text]


CONFIG = """\
sources:
  - name: acme
    kind: kandji
    url: {url}
    token: ${{KT}}
    strategy: per_device
    interval: 1s
    timeout: 2s
    retry: {{max_attempts: 2, backoff_base: 50ms, backoff_max: 100ms}}
    budget: {{requests_per_hour: 100000, burst_per_second: 1000, concurrency: 8}}
receivers:
  - name: hook
    urls: ["${{HOOK_URL}}"]
  - name: broken
    urls: ["${{BROKEN_URL}}"]
  - name: dead
    urls: ["${{DEAD_URL}}"]
route:
  receiver: hook
  group_by: [rule_id, source]
  group_wait: 0s
  group_interval: 1s
  routes:
    - {{receiver: hook, continue: true}}
    - {{receiver: broken, continue: true}}
    - {{receiver: dead}}
notify:
  outbox: {{backoff_base: 100ms, backoff_max: 300ms, max_attempts: 4, poll_interval: 100ms,
           send_timeout: 5s}}
store:
  path: state/monitor.db
web:
  port: {web_port}
  token: ${{WEB_TOKEN}}
log:
  level: debug
  format: json
shutdown_grace: 10s
"""


def start_daemon(
    config: Path, env: dict[str, str], out: IO[bytes], err: IO[bytes]
) -> subprocess.Popen[bytes]:
    """``compliance-monitor run`` as systemd would start it."""
    return subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "run", "-c", str(config)],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        stdout=out,
        stderr=err,
    )


async def wait_for(what: str, check: object, timeout: float = 60.0) -> None:
    """Poll ``check()`` (a callable returning bool) until true or fail after ``timeout``."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def tenant() -> AsyncIterator[tuple[KandjiSimulator, str]]:
    runner, url, sim = await start_kandji(
        "127.0.0.1", 0, devices=30, seed=4, token=TOKEN, per_second=None, per_hour=None,
        demo=True, demo_repair_after=3.0,
    )
    sim.add_fault("/status$", "500", probability=0.1)
    sim.add_fault("/status$", "reset", probability=0.05)
    sim.add_fault("/status$", "html", count=2)
    sim.add_fault("/status$", "429", probability=0.05, retry_after=0)
    try:
        yield sim, url
    finally:
        await runner.cleanup()


@pytest.fixture
async def hooks() -> AsyncIterator[tuple[Webhook, Webhook, int, int]]:
    async with webhook_server() as (ok, ok_port), webhook_server() as (broken, broken_port):
        broken.status = 500
        yield ok, broken, ok_port, broken_port


async def test_a_whole_run_writes_no_secret_anywhere(
    tmp_path: Path,
    tenant: tuple[KandjiSimulator, str],
    hooks: tuple[Webhook, Webhook, int, int],
) -> None:
    _, url = tenant
    ok_hook, broken_hook, ok_port, broken_port = hooks
    web_port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(url=url, web_port=web_port))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "KT": TOKEN,
        "HOOK_URL": f"json://monitor:{HOOK_PASSWORD}@127.0.0.1:{ok_port}/hook",
        "BROKEN_URL": f"json://monitor:{BROKEN_PASSWORD}@127.0.0.1:{broken_port}/hook",
        "DEAD_URL": f"json://monitor:{DEAD_PASSWORD}@127.0.0.1:{free_port()}/hook",
        "WEB_TOKEN": WEB_TOKEN,
    }
    outputs: list[tuple[str, bytes]] = []
    stdout, stderr = tmp_path / "run.out", tmp_path / "run.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        daemon = start_daemon(config, env, out, err)
        try:
            def logged(event: str) -> bool:
                return f'"{event}"' in stderr.read_text(errors="replace")

            await wait_for("a delivery", lambda: bool(ok_hook.bodies))
            await wait_for("the failing receivers to log", lambda: logged("notify.delivery_failed")
                           and "receiver\": \"dead\"" in stderr.read_text(errors="replace")
                           and bool(broken_hook.bodies))
            await wait_for("a retried request", lambda: logged("api.retry"))
            await wait_for("a 404 checked", lambda: logged("kandji.inconsistent_404"))
            outputs += await scrape(web_port)
        finally:
            daemon.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(daemon.wait, 30)
    assert code == 0
    outputs += [("run stdout", stdout.read_bytes()), ("run stderr", stderr.read_bytes())]

    for args in (("validate",), ("once", "--dry-run")):
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "monitor.cli", *args, "-c", str(config)],
            env=env, capture_output=True, timeout=60, check=False,
        )
        assert done.returncode in (0, 1, 3), done.stderr
        outputs += [(f"{args[0]} stdout", done.stdout), (f"{args[0]} stderr", done.stderr)]

    files = [p for p in (tmp_path / "state").rglob("*") if p.is_file()]
    assert any(p.name == "monitor.db" for p in files)
    outputs += [(f"file {p.name}", p.read_bytes()) for p in files]
    outputs += [("webhook bodies", json.dumps(ok_hook.bodies + broken_hook.bodies).encode())]

    # The run did exercise what it should have, or the scan proves nothing.
    lines = stderr.read_text().splitlines()
    log_lines = [json.loads(line) for line in lines if line.startswith("{")]
    events = {line.get("event") for line in log_lines}
    assert {"sweep", "notify.delivered", "notify.delivery_failed", "api.retry"} <= events

    found = {name: leaks(data) for name, data in outputs if leaks(data)}
    assert found == {}, f"secrets written: {found}"


async def scrape(port: int) -> list[tuple[str, bytes]]:
    """Every page and API answer, with the token, a wrong token and Basic auth."""
    base = f"http://127.0.0.1:{port}"
    out: list[tuple[str, bytes]] = []
    bearer = {"Authorization": f"Bearer {WEB_TOKEN}"}
    async with aiohttp.ClientSession() as http:
        for path in ("/", "/api/status", "/api/alerts", "/api/sources", "/api/silences",
                     "/metrics", "/healthz", "/readyz"):
            async with http.get(base + path, headers=bearer) as resp:
                assert resp.status in (200, 503), path
                out.append((f"GET {path}", await resp.read()))
        async with http.get(base + "/api/alerts", headers={"Authorization": "Bearer wrong"}) as r:
            assert r.status == 401
            out.append(("GET /api/alerts (wrong token)", await r.read()))
        basic = base64.b64encode(f"me:{WEB_TOKEN}".encode()).decode()
        async with http.get(base + "/", headers={"Authorization": f"Basic {basic}"}) as r:
            assert r.status == 200
            out.append(("GET / (basic)", await r.read()))
    metrics = dict(out)["GET /metrics"].decode()
    assert "compliance_monitor_api_requests_total" in metrics
    return out


# --------------------------------------------------------------------------- in process


@pytest.fixture
def restore_logging() -> Iterator[None]:
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_tracebacks_and_stdlib_records_are_redacted(
    restore_logging: None, fmt: str
) -> None:
    url = f"json://monitor:{HOOK_PASSWORD}@127.0.0.1:9/hook"
    register_secret(TOKEN)
    register_secret(url)
    stream = io.StringIO()
    configure_logging("debug", fmt, stream=stream)  # type: ignore[arg-type]
    log = structlog.get_logger("secrets-test")
    try:
        raise RuntimeError(f"failed with token {TOKEN} against monitor:{HOOK_PASSWORD}@host")
    except RuntimeError:
        log.exception("boom", header=f"Bearer {TOKEN}", nested={"url": url})
        logging.getLogger("aiohttp.client").exception("stdlib %s", HOOK_PASSWORD)
    log.warning("quoted", piece=f"password={HOOK_PASSWORD}", token=SecretStr(TOKEN))
    written = stream.getvalue()
    assert "RuntimeError" in written, "the traceback is kept"
    assert "boom" in written
    assert "stdlib" in written
    assert leaks(written) == []


async def test_reprs_and_errors_hold_no_secret(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(
        "sources:\n  - {name: a, kind: kandji, url: 'http://127.0.0.1:9', token_file: token}\n"
        f"receivers:\n  - name: r\n    urls: ['json://monitor:{HOOK_PASSWORD}@127.0.0.1:9/x']\n"
        f"route: {{receiver: r}}\nweb: {{token: {WEB_TOKEN}}}\n"
    )
    config = load_config(config_path)
    source = config.sources[0]
    assert isinstance(source, KandjiSourceConfig)
    from monitor.clock import FakeClock

    client = KandjiClient(source, clock=FakeClock())
    sender = AppriseSender(timeout=5)
    shown = [repr(config), str(config), config.model_dump_json(), repr(source), repr(client),
             repr(client.api), repr(sender), repr(config.receivers[0])]
    await client.close()
    # A token file that cannot be read names the key, not the token.
    missing = source.model_copy(update={"token_file": tmp_path / "nope"})
    try:
        missing.resolve_token()
    except ConfigError as exc:
        shown.append(str(exc))
    # A bad value next to a secret: the error names the key.
    config_path.write_text(config_path.read_text().replace("kind: kandji", "kind: kandji, x: 1"))
    try:
        load_config(config_path)
    except ConfigError as exc:
        shown.append(str(exc))
    assert len(shown) == 10
    assert [s for s in shown if leaks(s)] == []
