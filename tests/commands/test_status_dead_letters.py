"""``status`` tells about notifications given up on (dead letters)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from monitor.commands.inspect import EXIT_OK
from monitor.store import open_store
from tests.commands.outbox_seed import kill, queue
from tests.commands.test_inspect_status import NOW, fleet, make_config, run_status, write_store

LINE = "2 messages could not be delivered (dead letters): outbox list shows them"


async def seed(tmp_path: Path) -> list[int]:
    """The usual fleet, two dead letters and one pending message; the dead ids."""
    store = await write_store(tmp_path / "monitor.db", fleet())
    try:
        first = await queue(store, "g-a", "[FIRING:1] filevault off", NOW - timedelta(hours=2))
        await kill(store, first, "HTTP 500", NOW - timedelta(hours=1))
        second = await queue(store, "g-b", "[FIRING:2] slack", NOW - timedelta(hours=2))
        await kill(store, second, "HTTP 502", NOW - timedelta(minutes=5))
        await queue(store, "g-c", "[FIRING:1] zoom", NOW)
    finally:
        await store.close()
    return [first.id, second.id]


async def test_status_says_how_many_messages_could_not_be_delivered(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    await seed(tmp_path)
    code, out, _ = await run_status(config)
    assert code == EXIT_OK
    assert LINE in out.splitlines()


async def test_status_json_counts_and_lists_dead_letters(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    first, second = await seed(tmp_path)
    _, out, _ = await run_status(config, as_json=True)
    doc = json.loads(out)
    assert doc["summary"]["dead_letters"] == 2
    assert [d["id"] for d in doc["dead_letters"]] == [second, first]
    newest = doc["dead_letters"][0]
    assert newest["title"] == "[FIRING:2] slack"
    assert newest["receiver"] == "ops"
    assert newest["last_error"] == "HTTP 502"
    assert newest["failed_at"] == (NOW - timedelta(minutes=5)).isoformat()


async def test_no_dead_letter_line_once_they_are_requeued(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    dead = await seed(tmp_path)
    async with open_store(tmp_path / "monitor.db") as store:
        for message_id in dead:
            assert await store.requeue(message_id, NOW)
    _, out, _ = await run_status(config)
    assert "could not be delivered" not in out
    _, doc, _ = await run_status(config, as_json=True)
    assert json.loads(doc)["dead_letters"] == []
