"""The budget reads the tenant's hour from the rate-limit headers and leaves room for the
tenant's other integrations: it plans on what the whole tenant has left, slows down
before it runs dry, and so meets no 429 while a rival spends from the same hour."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from monitor.clock import FakeClock
from monitor.config import BudgetConfig, load_config
from monitor.errors import BudgetExhaustedError, ConfigError
from monitor.simulator.kandji import start_kandji
from monitor.sources.budget import RequestBudget
from monitor.sources.kandji.client import KandjiClient
from tests.sources.conftest import TOKEN, kandji_config


def headers(limit: int, remaining: int) -> dict[str, str]:
    return {"X-Ratelimit-Limit-Hour": str(limit), "X-Ratelimit-Remaining-Hour": str(remaining)}


def test_remaining_is_the_smaller_of_the_own_window_and_the_tenant_headroom() -> None:
    clock = FakeClock()  # on the hour
    budget = RequestBudget(BudgetConfig(requests_per_hour=8000), clock, tenant_reserve=0.05)
    assert budget.remaining == 8000  # nothing heard from the tenant yet
    clock.advance(1800)
    # Half an hour in, the tenant spent 2,500 and none of it was ours: others spend
    # 5,000 an hour, 2,500 more before the reset, and 500 stay in reserve.
    budget.observe(headers(10_000, 7_500))
    assert budget.snapshot().others_per_hour == 5000
    assert budget.remaining == 7_500 - 2_500 - 500
    assert budget.own_remaining == 8000
    # Ten minutes later (without a new answer) the others have spent ~833 more.
    clock.advance(600)
    assert budget.remaining == math.floor(7_500 - 5000 / 6) - math.ceil(5000 * 1200 / 3600) - 500
    # A new hour: the last answer is history; the own window (sliding) still counts.
    clock.advance(1200)
    assert budget.snapshot().tenant_remaining == 10_000


def test_garbled_or_missing_headers_change_nothing() -> None:
    clock = FakeClock()
    budget = RequestBudget(BudgetConfig(requests_per_hour=100), clock)
    for bad in (
        {},
        {"X-Ratelimit-Limit-Hour": "abc", "X-Ratelimit-Remaining-Hour": "5"},
        headers(10, 20),
        {"X-Ratelimit-Limit-Hour": "9" * 40, "X-Ratelimit-Remaining-Hour": "1"},
        headers(0, 0),
    ):
        budget.observe(bad)
    assert budget.snapshot().tenant_remaining is None
    assert budget.remaining == 100


async def test_a_dry_tenant_is_waited_out_or_refused_past_max_wait() -> None:
    clock = FakeClock()
    budget = RequestBudget(BudgetConfig(requests_per_hour=1000), clock, tenant_reserve=0.05)
    clock.advance(3000)
    budget.observe(headers(1000, 40))  # under the reserve of 50: nothing to spend
    assert budget.remaining == 0
    assert budget.tenant_wait() == 600  # until the window resets
    with pytest.raises(BudgetExhaustedError, match="tenant") as info:
        async with budget.slot(max_wait=60):
            raise AssertionError("no slot while the tenant is dry")
    assert info.value.retry_after == 600


async def test_a_rival_spending_a_third_of_the_hour_costs_no_429() -> None:
    # The tenant allows 1,000 an hour; another integration spends 360 of them. The
    # monitor's own budget would allow all 1,000 and it asks as fast as it may: it
    # must leave the rival its share and meet no 429, and still use most of the rest.
    clock = FakeClock(autojump=True)
    runner, url, sim = await start_kandji(
        devices=5, clock=clock, token=TOKEN, per_second=None, per_hour=1000,
        rival_per_hour=360,
    )
    config = kandji_config(
        url, budget=BudgetConfig(requests_per_hour=1000, burst_per_second=1, concurrency=1)
    )
    try:
        async with KandjiClient(config, clock=clock) as client:
            end = clock.now().timestamp() + 2 * 3600
            while clock.now().timestamp() < end:
                await client.get_device(sim.fleet.device_id(0))
    finally:
        await runner.cleanup()
    assert sim.limiter.rejected == 0
    usable = 2 * (1000 - 360)
    assert sim.limiter.answered >= 0.9 * usable
    assert sim.limiter.answered <= usable


def test_the_others_rate_comes_from_successive_readings_not_the_windows_average() -> None:
    # Restarted half an hour into the window: the tenant spent 5,000 so far, part of it
    # by this monitor's previous process. The window's average (10,000 an hour) stands
    # until a minute of readings shows what the others spend now: 10 a minute.
    clock = FakeClock()
    budget = RequestBudget(BudgetConfig(requests_per_hour=5000), clock, tenant_reserve=0.05)
    clock.advance(1800)
    budget.observe(headers(10_000, 5_000))
    assert budget.snapshot().others_per_hour == 10_000
    clock.advance(30)
    budget.observe(headers(10_000, 4_995))
    assert budget.snapshot().others_per_hour == pytest.approx(5_005 / 1830 * 3600)
    clock.advance(30)
    budget.observe(headers(10_000, 4_990))
    assert budget.snapshot().others_per_hour == pytest.approx(600)
    assert budget.remaining == 4_990 - 290 - 500  # 29 more minutes at 600/h, the reserve


def test_a_late_answer_of_the_last_window_does_not_hide_the_new_one() -> None:
    clock = FakeClock()
    budget = RequestBudget(BudgetConfig(requests_per_hour=5000), clock, tenant_reserve=0.05)
    clock.advance(3599)
    budget.observe(headers(10_000, 5_000))  # the others spend 5,000 an hour
    clock.advance(2)  # a second into the new window, a request of the last one answers
    budget.observe(headers(10_000, 4_990))
    budget.observe(headers(10_000, 9_990))  # the new window's first answer
    assert budget.snapshot().tenant_remaining == 9_990
    assert 4_480 <= budget.remaining <= 4_500  # less the others (5,000/h) and the reserve


async def test_until_the_others_rate_is_measured_requests_are_spread_to_the_reset() -> None:
    clock = FakeClock()  # on the hour: no earlier window, no minute of readings yet
    budget = RequestBudget(BudgetConfig(requests_per_hour=5000), clock, tenant_reserve=0.05)
    async with budget.slot():
        pass
    budget.observe(headers(10_000, 9_999))
    assert not budget.tenant.measured()
    # What is left less the reserve (9,499), spread evenly until the reset.
    assert budget.tenant_wait() == pytest.approx(3600 / 9_499)
    clock.advance(60)
    budget.observe(headers(10_000, 9_990))
    assert budget.tenant.measured()
    assert budget.tenant_wait() == 0.0


async def test_a_cold_start_on_the_hour_leaves_a_rival_its_half() -> None:
    # The monitor starts on the hour and asks as fast as its own budget (the tenant's
    # whole 1,000) lets it, while another integration spends 500 an hour. Before it has
    # measured the others' spending it must not spend the hour at full speed: over the
    # first hour it leaves the rival its half and the reserve, and meets no 429.
    clock = FakeClock(autojump=True)
    runner, url, sim = await start_kandji(
        devices=5, clock=clock, token=TOKEN, per_second=None, per_hour=1000,
        rival_per_hour=500,
    )
    config = kandji_config(
        url, budget=BudgetConfig(requests_per_hour=1000, burst_per_second=50, concurrency=4)
    )
    queue_end = clock.now().timestamp() + 3600
    try:
        async with KandjiClient(config, clock=clock) as client:

            async def worker() -> None:
                while clock.now().timestamp() < queue_end - 1:
                    await client.get_device(sim.fleet.device_id(0))

            await asyncio.gather(*(worker() for _ in range(4)))
    finally:
        await runner.cleanup()
    assert sim.limiter.rejected == 0
    assert sim.limiter.answered <= 1000 - 500  # the rival's half is never eaten into
    assert sim.limiter.answered >= 0.9 * (1000 - 500 - 50)


CONFIG = """\
sources:
  - name: acme
    kind: kandji
    url: http://127.0.0.1:8081
    token: acme-token
    budget:
      requests_per_hour: 8000
      tenant_reserve: {reserve}
receivers:
  - name: console
    console: true
route:
  receiver: console
"""


def test_the_tenant_reserve_is_a_budget_option(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(reserve="0.2"))
    source = load_config(path).sources[0]
    clock = FakeClock()
    budget = RequestBudget(source.budget, clock)
    clock.advance(1800)
    budget.observe(headers(10_000, 7_500))  # others: 5,000 an hour, 2,500 still to come
    assert budget.remaining == 7_500 - 2_500 - 2_000
    path.write_text(CONFIG.format(reserve="0.9"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key_path == "sources.acme.budget.tenant_reserve"
