"""How long a start that cannot succeed takes to end, per kind of failure.

Each case runs the real command line (``python -m monitor.cli``) in a fresh interpreter
against a real obstacle: a busy web port, a missing token file, a token file holding a
carriage return, a read-only state folder, a database locked by another connection, a
file that is not a database. Beside them, in the same run, ``validate`` of a good config:
the cost of starting the interpreter and importing the monitor, which every case pays.

    .venv/bin/python bench/start_failures.py [--repeat 3]

prints one JSON object: per case the exit code and the slowest of ``--repeat`` runs in
seconds, the baseline, ``max_s`` and ``max_over_baseline`` (the slowest case as a
multiple of the baseline). A start failure should end within 5 seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the checkout's packages first
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
GUARD_S = 60.0
ENV = {"PATH": "/usr/bin:/bin", "CM_TOKEN": "a-valid-token-123"}


def config(
    folder: Path, *, token_line: str = "token: ${CM_TOKEN}", port: int = 0  # noqa: S107
) -> Path:
    """A small valid config (one Kandji source, a console receiver) in ``folder``."""
    path = folder / "config.yaml"
    path.write_text(
        "sources:\n  - name: acme\n    kind: kandji\n    url: http://127.0.0.1:9\n"
        f"    {token_line}\n"
        "receivers:\n  - name: console\n    console: true\n"
        f"route:\n  receiver: console\nweb: {{port: {port}}}\n"
        "store: {path: state/monitor.db}\n"
    )
    return path


def timed(*args: str) -> tuple[int, float]:
    """Exit code and seconds of one command line."""
    started = time.monotonic()
    try:
        res = subprocess.run(
            [sys.executable, "-m", "monitor.cli", *args], capture_output=True, env=ENV,
            cwd=ROOT, timeout=GUARD_S, check=False,
        )
    except subprocess.TimeoutExpired:
        return -1, GUARD_S
    return res.returncode, time.monotonic() - started


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[bool]:
    """``chattr +i`` (unwritable even for root) when the filesystem allows it."""
    chattr = shutil.which("chattr")
    ok = chattr is not None and subprocess.run(
        [chattr, "+i", str(path)], capture_output=True, check=False
    ).returncode == 0
    try:
        yield ok
    finally:
        if ok and chattr is not None:
            subprocess.run([chattr, "-i", str(path)], capture_output=True, check=False)


def busy_port(folder: Path) -> tuple[int, float]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        return timed("run", "-c", str(config(folder, port=sock.getsockname()[1])))


def missing_token_file(folder: Path) -> tuple[int, float]:
    return timed("run", "-c", str(config(folder, token_line="token_file: nowhere.token")))  # noqa: S106


def token_file_with_cr(folder: Path) -> tuple[int, float]:
    (folder / "k.token").write_text("abc\rdef\n")
    return timed("run", "-c", str(config(folder, token_line="token_file: k.token")))  # noqa: S106


def read_only_state(folder: Path) -> tuple[int, float]:
    (folder / "state").mkdir()
    cfg = config(folder)
    with immutable(folder / "state") as ok:
        return timed("run", "-c", str(cfg)) if ok else (-2, 0.0)


def locked_database(folder: Path) -> tuple[int, float]:
    (folder / "state").mkdir()
    holder = sqlite3.connect(folder / "state" / "monitor.db", isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        return timed("run", "-c", str(config(folder)))
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def not_a_database(folder: Path) -> tuple[int, float]:
    (folder / "state").mkdir()
    (folder / "state" / "monitor.db").write_bytes(b"this is not SQLite\n" * 512)
    return timed("run", "-c", str(config(folder)))


def baseline(folder: Path) -> tuple[int, float]:
    return timed("validate", "-c", str(config(folder)))


CASES: dict[str, Callable[[Path], tuple[int, float]]] = {
    "busy_port": busy_port,
    "missing_token_file": missing_token_file,
    "token_file_with_cr": token_file_with_cr,
    "read_only_state": read_only_state,
    "locked_database": locked_database,
    "not_a_database": not_a_database,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    out: dict[str, object] = {}
    slowest: dict[str, float] = {}
    for name, case in {**CASES, "baseline_validate": baseline}.items():
        codes, seconds = set(), []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                code, took = case(Path(tmp))
            codes.add(code)
            seconds.append(took)
        slowest[name] = max(seconds)
        out[name] = {"exit": sorted(codes), "seconds_max": round(max(seconds), 3)}
    base = slowest.pop("baseline_validate")
    top = max(slowest.values())
    out["max_s"] = round(top, 3)
    out["max_over_baseline"] = round(top / base, 2) if base else None
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
