"""``compliance-monitor outbox list|retry`` against a real SQLite store file."""

from __future__ import annotations

import argparse
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.clock import FakeClock
from monitor.commands import outbox
from monitor.config import Config
from monitor.log import REDACTED, register_secret
from monitor.store import open_store
from monitor.store.base import OutboxState
from tests.commands.outbox_seed import kill, queue

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HOOK_SECRET = "hook-secret-path-61be0f"


def make_config(tmp_path: Path) -> Config:
    """A minimal config whose store is tmp_path/monitor.db."""
    data: dict[str, Any] = {
        "sources": [{"name": "macs", "kind": "kandji", "url": "http://127.0.0.1:9",
                     "token": "tok1"}],
        "receivers": [{"name": "ops", "console": True}],
        "route": {"receiver": "ops"},
        "store": {"path": str(tmp_path / "monitor.db")},
        "web": {"enabled": False},
    }
    return Config.model_validate(data)


async def seed(path: Path) -> dict[str, int]:
    """One delivered, one pending and two dead messages; their ids by name."""
    register_secret(HOOK_SECRET)
    async with open_store(path) as store:
        delivered = await queue(store, "g-ok", "[RESOLVED] all fine", NOW - timedelta(hours=3))
        await store.mark_delivered(delivered.id, NOW - timedelta(hours=3))
        old = await queue(store, "g-a", "[FIRING:1] filevault off", NOW - timedelta(hours=2))
        await kill(store, old, "HTTP 500", NOW - timedelta(hours=1))
        new = await queue(store, "g-b", "[FIRING:3] slack failed", NOW - timedelta(hours=2))
        await kill(store, new, f"POST https://hooks.example/{HOOK_SECRET}: 503",
                   NOW - timedelta(minutes=10))
        pending = await queue(store, "g-c", "[FIRING:1] zoom failed", NOW - timedelta(minutes=1))
    return {"delivered": delivered.id, "old": old.id, "new": new.id, "pending": pending.id}


async def run(config: Config, **args: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await outbox.run(
        argparse.Namespace(**args), config, clock=FakeClock(NOW), out=out, err=err
    )
    return code, out.getvalue(), err.getvalue()


async def test_list_json_shows_dead_letters_then_pending_without_secrets(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    ids = await seed(tmp_path / "monitor.db")
    code, out, _ = await run(config, outbox_command="list", json=True)
    assert code == outbox.EXIT_OK
    assert HOOK_SECRET not in out
    doc = json.loads(out)
    assert doc["version"] == 1
    messages = doc["messages"]
    assert [m["id"] for m in messages] == [ids["new"], ids["old"], ids["pending"]]
    assert [m["state"] for m in messages] == ["dead", "dead", "pending"]
    newest = messages[0]
    assert newest["receiver"] == "ops"
    assert newest["title"] == "[FIRING:3] slack failed"
    assert newest["attempts"] == 1
    assert REDACTED in newest["last_error"]
    # A dead letter records when it was given up on, and is never attempted again.
    assert newest["failed_at"] == (NOW - timedelta(minutes=10)).isoformat()
    assert newest["next_attempt_at"] is None
    assert messages[2]["next_attempt_at"] == (NOW - timedelta(minutes=1)).isoformat()
    assert messages[2]["failed_at"] is None


async def test_list_table_names_each_message_and_hints_at_retry(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    ids = await seed(tmp_path / "monitor.db")
    code, out, err = await run(config, outbox_command="list", json=False)
    assert code == outbox.EXIT_OK
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["ID", "STATE", "RECEIVER"]
    assert lines[1].startswith(f"{ids['new']} ")
    assert "never (retry to requeue)" in lines[1]
    assert "[FIRING:1] zoom failed" in lines[3]
    assert "due now" in lines[3]
    assert HOOK_SECRET not in out
    assert "2 dead letter(s)" in err
    assert "outbox retry ID" in err


async def test_retry_one_requeues_it_for_delivery(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    ids = await seed(tmp_path / "monitor.db")
    code, out, _ = await run(config, outbox_command="retry", id=ids["old"], all_dead=False)
    assert code == outbox.EXIT_OK
    assert f"requeued 1 message(s): {ids['old']}" in out
    async with open_store(tmp_path / "monitor.db") as store:
        assert [m.id for m in await store.dead_letters()] == [ids["new"]]
        due = {m.id: m for m in await store.due(NOW)}
    assert due[ids["old"]].attempts == 0
    assert due[ids["old"]].state is OutboxState.PENDING


async def test_retry_all_dead_requeues_every_dead_letter(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    await seed(tmp_path / "monitor.db")
    code, out, _ = await run(config, outbox_command="retry", id=None, all_dead=True)
    assert code == outbox.EXIT_OK
    assert "requeued 2 message(s)" in out
    async with open_store(tmp_path / "monitor.db") as store:
        counts = await store.outbox_counts()
    assert counts[OutboxState.DEAD] == 0
    assert counts[OutboxState.PENDING] == 3


async def test_retry_of_an_unknown_or_pending_id_exits_1(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    ids = await seed(tmp_path / "monitor.db")
    for bad in (9999, ids["pending"], ids["delivered"]):
        code, out, err = await run(config, outbox_command="retry", id=bad, all_dead=False)
        assert code == outbox.EXIT_NOT_FOUND, bad
        assert f"no dead letter {bad}" in err
        assert out == ""


async def test_a_missing_store_is_reported_and_not_created(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    code, _, err = await run(config, outbox_command="list", json=False)
    assert code == outbox.EXIT_NOT_FOUND
    assert "no store" in err
    assert not (tmp_path / "monitor.db").exists()
