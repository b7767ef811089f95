"""Finding 8: a start that cannot succeed ends at once with its code and one line.

Each case runs the real command line against a real obstacle: a port something else
listens on, a missing token file, a read-only state folder, a database locked by another
process, a file that is not a database, a token with a line break. None may hang (a
thread left running), print a traceback, or exit 1 (which ``once`` uses for "firing").
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.cli import EXIT_START
from tests.adversarial.support import busy_port, cli, config_text, immutable, one_line

ENV = {"CM_TOKEN": "a-valid-token-123"}


def write(tmp_path: Path, text: str) -> Path:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text)
    return cfg


@pytest.mark.parametrize("command", ["run", "demo"])
def test_a_busy_web_port_exits_4_naming_the_address(tmp_path: Path, command: str) -> None:
    with busy_port() as port:
        if command == "demo":
            res = cli("demo", "--port", str(port), "--state-dir", str(tmp_path))
        else:
            res = cli("run", "-c", str(write(tmp_path, config_text(port=port))), env=ENV)
    assert res.returncode == EXIT_START
    line = one_line(res.stderr)
    assert line.startswith("could not start: web 127.0.0.1:")
    assert str(port) in line


@pytest.mark.parametrize("command", ["run", "once"])
def test_a_missing_token_file_exits_4_naming_the_key(tmp_path: Path, command: str) -> None:
    cfg = write(tmp_path, config_text(token_line="token_file: secrets/kandji.token"))
    res = cli(command, "-c", str(cfg))
    assert res.returncode == EXIT_START
    line = one_line(res.stderr)
    assert "sources.acme.token_file" in line
    assert "No such file" in line


def test_a_token_file_holding_a_carriage_return_exits_4(tmp_path: Path) -> None:
    (tmp_path / "kandji.token").write_text("abc\rdef\n")
    cfg = write(tmp_path, config_text(token_line="token_file: kandji.token"))
    res = cli("once", "-c", str(cfg))
    assert res.returncode == EXIT_START
    assert "line break" in one_line(res.stderr)
    assert "abc" not in res.stderr


def test_a_token_holding_a_carriage_return_is_a_config_error(tmp_path: Path) -> None:
    res = cli("once", "-c", str(write(tmp_path, config_text())), env={"CM_TOKEN": "abc\rdef"})
    assert res.returncode == 2
    line = one_line(res.stderr)
    assert "sources.acme.token" in line
    assert "line break" in line


@pytest.mark.parametrize("command", ["run", "once"])
def test_a_read_only_state_folder_exits_4(tmp_path: Path, command: str) -> None:
    (tmp_path / "state").mkdir()
    cfg = write(tmp_path, config_text())
    with immutable(tmp_path / "state"):
        res = cli(command, "-c", str(cfg), env=ENV)
    assert res.returncode == EXIT_START
    assert "not writable" in one_line(res.stderr)


def test_a_read_only_database_exits_4(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    sqlite3.connect(tmp_path / "state" / "monitor.db").close()
    cfg = write(tmp_path, config_text())
    with immutable(tmp_path / "state" / "monitor.db", tmp_path / "state"):
        res = cli("once", "-c", str(cfg), env=ENV)
    assert res.returncode == EXIT_START
    assert "read-only" in one_line(res.stderr)


@pytest.fixture
def locked_db(tmp_path: Path) -> Iterator[Path]:
    """A database another connection holds an exclusive lock on."""
    (tmp_path / "state").mkdir()
    path = tmp_path / "state" / "monitor.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield path
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.parametrize("command", ["run", "once"])
def test_a_locked_database_exits_4(tmp_path: Path, locked_db: Path, command: str) -> None:
    res = cli(command, "-c", str(write(tmp_path, config_text())), env=ENV)
    assert res.returncode == EXIT_START
    assert "locked" in one_line(res.stderr)


def test_a_file_that_is_not_a_database_exits_4(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "monitor.db").write_bytes(b"this is not SQLite\n" * 512)
    res = cli("once", "-c", str(write(tmp_path, config_text())), env=ENV)
    assert res.returncode == EXIT_START
    assert "not a usable SQLite database" in one_line(res.stderr)


def test_exit_codes_are_documented_in_help() -> None:
    res = cli("--help")
    assert res.returncode == 0
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "130"):
        assert f"\n  {code}" in res.stdout
