"""Finding 4: a megabyte device name neither bloats the database nor the messages."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.adversarial.hostile import hostile_kandji, run_cli, write_config

TOKEN = "hostile-test-token-0001"
MEGABYTE = 1_000_000


async def test_a_megabyte_device_name_is_cut_before_it_is_stored_or_sent(tmp_path: Path) -> None:
    async with hostile_kandji(lambda i, _: f"Mac{i}-" + "A" * MEGABYTE) as kandji:
        cfg = write_config(tmp_path, kandji.base_url, TOKEN)
        res = await run_cli("once", "-c", str(cfg))
    assert res.returncode == 1, res.stderr  # firing, delivered
    assert "Mac0-AAAA" in res.stdout
    assert "Mac1-AAAA" in res.stdout
    assert len(res.stdout) < 20_000, "each name is cut to a few hundred characters"
    db = tmp_path / "state" / "monitor.db"
    assert db.stat().st_size < 2_000_000
    with sqlite3.connect(db) as conn:
        longest = max(
            len(value)
            for table, in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            for row in conn.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (table names)
            for value in row
            if isinstance(value, str)
        )
    assert longest < 50_000
