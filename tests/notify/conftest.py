"""Fixtures of the notification tests: a real SQLite store, a fake clock, a recorder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.clock import FakeClock
from monitor.store import SqlStore, open_store
from tests.notify.helpers import T0, RecordingSender


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    async with open_store(tmp_path / "monitor.db") as s:
        yield s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()
