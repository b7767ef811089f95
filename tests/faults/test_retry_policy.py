"""One retry policy: a failing request is sent at most ``retry.max_attempts`` times.

Against the real Kandji simulator on loopback. Whatever goes wrong with a page (a
503, a garbled answer, a proxy's HTML 404, or one after the other), it is sent at
most the policy's attempt count in all, each attempt spends one slot of the tenant's
request budget, and the waits between attempts are slept on the injected clock.
Before there was one policy, a 503 burst followed by garbled answers sent one page
more often than the policy allowed (the seam's retries nested inside the client's
re-asks).
"""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from monitor.clock import FakeClock
from monitor.errors import MalformedResponseError, NotFoundError, ServerError, SourceError
from monitor.settings import BudgetConfig
from monitor.sources.budget import RequestBudget
from monitor.sources.kandji.api import DEVICES
from monitor.sources.kandji.client import KandjiClient
from monitor.sources.kandji.config import KandjiSourceConfig
from tests.faults.conftest import TOKEN, StartSim

ATTEMPTS = 4


def make_client(url: str, clock: FakeClock, budget: RequestBudget) -> KandjiClient:
    config = KandjiSourceConfig(
        name="acme",
        kind="kandji",
        url=url,
        token=SecretStr(TOKEN),
        retry={"max_attempts": ATTEMPTS, "backoff_base": "1s", "backoff_max": "8s"},
        budget={"requests_per_hour": 100_000, "burst_per_second": 1000, "concurrency": 8},
    )
    return KandjiClient(config, clock=clock, budget=budget)


@pytest.mark.parametrize(
    ("faults", "error"),
    [
        pytest.param([("503", None)], ServerError, id="503 every time"),
        pytest.param([("garbled", None)], MalformedResponseError, id="garbled every time"),
        pytest.param([("html", None)], NotFoundError, id="a proxy's HTML 404 every time"),
        pytest.param(
            [("503", ATTEMPTS - 1), ("garbled", None)],
            MalformedResponseError,
            id="503s, then garbled answers",
        ),
        pytest.param(
            [("garbled", 1), ("503", ATTEMPTS - 2), ("field-missing", None)],
            MalformedResponseError,
            id="garbled, 503s, a key missing",
        ),
    ],
)
async def test_a_failing_page_is_sent_at_most_the_policys_attempt_count(
    start_sim: StartSim,
    clock: FakeClock,
    faults: list[tuple[str, int | None]],
    error: type[SourceError],
) -> None:
    url, sim = await start_sim(devices=5)
    for kind, count in faults:
        sim.add_fault("^/api/v1/devices$", kind, count=count, key="device_id")
    budget = RequestBudget(
        BudgetConfig(requests_per_hour=1000, burst_per_second=1000, concurrency=8), clock
    )
    before = clock.monotonic()
    async with make_client(url, clock, budget) as client:
        with pytest.raises(error):
            await client.list_devices()
        assert client.stats.count(DEVICES) == ATTEMPTS
    assert sim.requests.total == ATTEMPTS
    assert budget.remaining == 1000 - ATTEMPTS  # every attempt spent a slot
    assert clock.monotonic() > before  # the waits were slept on the injected clock


async def test_retry_after_is_honoured_on_the_injected_clock(
    start_sim: StartSim, clock: FakeClock
) -> None:
    url, sim = await start_sim(devices=5)
    sim.add_fault("^/api/v1/devices$", "429", count=1, retry_after=7)
    budget = RequestBudget(
        BudgetConfig(requests_per_hour=1000, burst_per_second=1000, concurrency=8), clock
    )
    before = clock.monotonic()
    async with make_client(url, clock, budget) as client:
        devices = await client.list_devices()
    assert len(devices) == 5
    assert sim.requests.total == 2
    assert clock.monotonic() - before >= 7
