"""The simulated tenant fixture of the planned sweep's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.simulator.kandji import FleetSpec, start_kandji
from tests.sources.kandji.tenant import TOKEN, StartTenant, Tenant


@pytest.fixture
async def start_tenant() -> AsyncIterator[StartTenant]:
    """Start simulated tenants (no rate limits, a fake clock each); stopped at the end."""
    runners: list[Any] = []

    async def start(devices: int = 150, seed: int = 1, **spec: Any) -> Tenant:
        clock = FakeClock()
        runner, url, sim = await start_kandji(
            clock=clock,
            token=TOKEN,
            spec=FleetSpec(devices=devices, seed=seed, **spec),
            per_second=None,
            per_hour=None,
        )
        runners.append(runner)
        return Tenant(url, sim, clock)

    yield start
    for runner in runners:
        await runner.cleanup()
