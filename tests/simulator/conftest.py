"""Fixtures: a simulated Kandji tenant on 127.0.0.1 driven by a fake clock, an
authenticated client session, and the documented example bodies to compare against."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from monitor.clock import FakeClock
from monitor.simulator.kandji import KandjiSimulator, start_kandji
from tests.fixtures import KANDJI_EXAMPLES, kandji_example
from tests.fixtures import mac_details_example as mac_details_example
from tests.simulators import simulators, token_session

TOKEN = "sim-test-token-51c2"

EXAMPLES = KANDJI_EXAMPLES
"""The documented example bodies (one file per example; see INDEX.md there)."""

example = kandji_example
"""The decoded JSON of one example file, by its path under ``examples/``."""


def assert_same_keys(
    ours: Any, documented: Any, path: str = "$", free: frozenset[str] = frozenset()
) -> None:
    """Assert that every object in ``ours`` has exactly the keys of its counterpart in
    ``documented``, recursively. List elements are compared with the first documented
    element; paths in ``free`` hold free-form maps whose keys are not compared. Values
    whose documented type differs (an object against ``""`` or ``null``) and empty
    objects on either side (``{}`` means "not applicable", API-NOTES §2.5) are skipped,
    since the API documents such unions."""
    if isinstance(ours, dict) and isinstance(documented, dict):
        if path in free or not ours or not documented:
            return
        assert set(ours) == set(documented), (
            f"{path}: extra {sorted(set(ours) - set(documented))}, "
            f"missing {sorted(set(documented) - set(ours))}"
        )
        for key in ours:
            assert_same_keys(ours[key], documented[key], f"{path}.{key}", free)
    elif isinstance(ours, list) and isinstance(documented, list) and documented:
        for element in ours:
            assert_same_keys(element, documented[0], f"{path}[]", free)


StartSim = Callable[..., Awaitable[tuple[str, KandjiSimulator]]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def start_sim(clock: FakeClock) -> AsyncIterator[StartSim]:
    """Start simulated tenants on 127.0.0.1 (port 0); returns ``(base_url, sim)``.

    Defaults: the test clock, the test token, 120 devices, no rate limits (the fake
    clock never moves by itself, so one fake second would otherwise cap a test at 50
    requests)."""
    async with simulators(
        start_kandji, clock=clock, token=TOKEN, devices=120, per_second=None, per_hour=None
    ) as start:
        yield start


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session that sends the test token."""
    async with token_session(TOKEN) as session:
        yield session
