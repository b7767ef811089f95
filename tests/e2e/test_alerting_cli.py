"""``test-notify`` and ``once --dry-run`` through ``monitor.cli.main``, as a person runs them.

The simulated tenant and the webhook run in a background thread (``main`` runs its own
event loop); deliveries go through apprise's json:// to the webhook.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from tests.e2e.alerting_support import (  # noqa: F401 - fresh_logging is a fixture
    Servers,
    fresh_logging,
    servers_in_thread,
    set_status,
    slots,
    write_config,
)

# Logging first: the servers log as they start.
pytestmark = pytest.mark.usefixtures("fresh_logging")


@pytest.fixture
def servers() -> Iterator[Servers]:
    with servers_in_thread() as srv:
        yield srv


def config(tmp_path: Path, srv: Servers, *, names: tuple[str, ...] = ("ops",)) -> Path:
    receivers = "receivers:\n" + "".join(
        f"  - name: {n}\n    urls: ['{srv.hook.url(n)}']\n" for n in names
    )
    return write_config(
        tmp_path, kandji_url=srv.kandji_url, receivers=receivers,
        route="route:\n  receiver: ops\n  group_wait: 30s\n  group_interval: 5m",
    )


def snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, as another process reads the file."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall())  # noqa: S608
                for t in tables}


# ------------------------------------------------------------------ test-notify


def test_test_notify_sends_a_sample_to_the_receiver_and_nothing_else(
    tmp_path: Path, servers: Servers, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path, servers, names=("ops", "pager"))
    assert main(["test-notify", "-c", str(cfg), "pager"]) == 0
    [sample] = servers.deliveries("pager")
    assert sample.title.startswith("[TEST] [FIRING:2]")
    assert "Test Mac 1" in sample.body
    assert "nothing is wrong" in sample.body
    assert servers.deliveries("ops") == []
    assert capsys.readouterr().out.startswith("sent a sample message to pager: [TEST]")
    # a test message is not an alert: nothing was queued or remembered
    db = tmp_path / "state" / "monitor.db"
    assert snapshot(db)["outbox"] == []
    assert snapshot(db)["notification_log"] == []


def test_test_notify_to_a_failing_receiver_exits_1_without_its_url(
    tmp_path: Path, servers: Servers, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path, servers, names=("ops",))
    servers.thread.call(lambda: servers.hook.down.add("ops"))
    assert main(["test-notify", "-c", str(cfg), "ops"]) == 1
    err = capsys.readouterr().err
    assert "sending to ops failed" in err
    assert servers.hook.url("ops") not in err
    assert "/hook/ops" not in err


def test_test_notify_to_an_unknown_receiver_exits_2_naming_the_known_ones(
    tmp_path: Path, servers: Servers, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path, servers, names=("ops", "pager"))
    assert main(["test-notify", "-c", str(cfg), "nobody"]) == 2
    assert "no receiver is named 'nobody' (receivers: ops, pager)" in capsys.readouterr().err


# ------------------------------------------------------------------ once --dry-run


def test_once_dry_run_shows_the_messages_sends_nothing_and_changes_nothing(
    tmp_path: Path, servers: Servers, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = servers.on_fleet(lambda f: slots(f, 2))
    servers.on_fleet(lambda f: set_status(f, first, "ERROR"))
    cfg = config(tmp_path, servers)
    db = tmp_path / "state" / "monitor.db"

    assert main(["once", "-c", str(cfg)]) == 1  # something fires
    assert len(servers.deliveries("ops")) == 1
    before = snapshot(db)
    capsys.readouterr()

    servers.on_fleet(lambda f: set_status(f, second, "ERROR"))
    servers.on_fleet(lambda f: set_status(f, first, "PASS"))
    assert main(["once", "--dry-run", "-c", str(cfg)]) == 1
    shown = capsys.readouterr().out
    assert "--- to ops (first) ---" in shown
    assert second.device_name in shown
    assert snapshot(db) == before
    assert len(servers.deliveries("ops")) == 1

    # What the dry run showed is what a real run then sends.
    assert main(["once", "-c", str(cfg)]) == 1
    sent = servers.deliveries("ops")[1]
    assert f"{sent.title}\n\n{sent.body}" in shown
    assert snapshot(db) != before
