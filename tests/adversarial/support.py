"""What the adversarial tests share: the CLI as a subprocess, hostile files and folders."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HANG_GUARD = 60.0
"""A command still running after this long has hung (a start failure must end it)."""


@dataclass(frozen=True)
class Result:
    """A finished command: its exit code, its output and how long it took."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Result:
    """Run ``compliance-monitor`` in a fresh interpreter; a hang fails the test."""
    started = time.monotonic()
    try:
        res = subprocess.run(
            [sys.executable, "-m", "monitor.cli", *args],
            capture_output=True,
            text=True,
            timeout=HANG_GUARD,
            env={"PATH": "/usr/bin:/bin", **(env or {})},
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"compliance-monitor {' '.join(args)} did not exit within {HANG_GUARD:g}s")
    return Result(res.returncode, res.stdout, res.stderr, time.monotonic() - started)


def one_line(text: str) -> str:
    """The single line of an expected failure; fails the test on a traceback or more."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("{")]
    assert "Traceback" not in text, text
    assert len(lines) == 1, text
    return lines[0]


@contextlib.contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """Make files or folders unwritable even for root (``chattr +i``), then undo it."""
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("chattr is not available")
    done: list[Path] = []
    try:
        for path in paths:
            res = subprocess.run([chattr, "+i", str(path)], capture_output=True, check=False)
            if res.returncode != 0:
                pytest.skip(f"this filesystem cannot make files immutable: {res.stderr!r}")
            done.append(path)
        yield
    finally:
        for path in reversed(done):
            subprocess.run([chattr, "-i", str(path)], capture_output=True, check=False)


@contextlib.contextmanager
def busy_port() -> Iterator[int]:
    """A loopback port something else is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def config_text(
    *,
    url: str = "http://127.0.0.1:9",
    token_line: str = "token: ${CM_TOKEN}",  # noqa: S107 (a reference, not a secret)
    port: int = 0,
    extra: str = "",
) -> str:
    """A small valid config (one Kandji source, a console receiver) to break."""
    return (
        "sources:\n"
        "  - name: acme\n"
        "    kind: kandji\n"
        f"    url: {url}\n"
        f"    {token_line}\n"
        "receivers:\n"
        "  - name: console\n"
        "    console: true\n"
        "route:\n"
        "  receiver: console\n"
        f"web: {{port: {port}}}\n"
        "store: {path: state/monitor.db}\n" + extra
    )
