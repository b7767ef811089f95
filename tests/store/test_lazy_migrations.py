"""Alembic is loaded only when a migration is due, and Pillow only when a chart is
drawn: a daemon restarting on a current store carries neither (about 11 MB)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from monitor.store import migrate

_PROBE = """
import asyncio, sys
import monitor.app
from monitor.store import open_store

async def main():
    async with open_store(sys.argv[1]) as store:
        await store.load_alerts()

asyncio.run(main())
print(*sorted(m for m in ("alembic", "mako", "PIL") if m in sys.modules))
"""


def loaded_after_opening(store: Path) -> list[str]:
    """Which of Alembic, Mako and Pillow a fresh interpreter holds after importing the
    app and opening ``store``."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(store)], capture_output=True, text=True,
        check=True, timeout=120,
    )
    return done.stdout.splitlines()[-1].split()  # the last line: a log line may precede it


def test_the_head_read_from_the_files_is_alembics() -> None:
    assert migrate.known_head() == migrate.head_revision()


def test_a_current_store_opens_without_alembic_and_a_new_one_with_it(tmp_path: Path) -> None:
    store = tmp_path / "monitor.db"
    assert loaded_after_opening(store) == ["alembic", "mako"]  # created: a migration
    assert loaded_after_opening(store) == []  # at the head: nothing to migrate
