"""The per-source coordinator: a fixed cadence with jitter, missed slots skipped, the
first sweep visible, a failing sweep never stopping the schedule."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from monitor.clock import FakeClock
from monitor.daemon import MAX_JITTER, SourceCoordinator, Stopper, jitter_for
from monitor.errors import TransportError
from monitor.models import SweepStats

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
INTERVAL = timedelta(minutes=10)


def stats(clock: FakeClock, *, ok: bool = True) -> SweepStats:
    return SweepStats(source="acme", started_at=clock.now(), finished_at=clock.now(), ok=ok)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_sweeps_start_on_a_fixed_cadence_however_long_each_sweep_takes() -> None:
    clock = FakeClock(T0)
    starts: list[float] = []

    async def sweep(name: str) -> SweepStats:
        starts.append(clock.monotonic())
        await clock.sleep(90)  # every sweep takes a minute and a half
        return stats(clock)

    stopper = Stopper(clock)
    coord = SourceCoordinator("acme", INTERVAL, sweep, clock, stopper, jitter=lambda: 0.0)
    task = asyncio.create_task(coord.run())
    for _ in range(45):
        await settle()
        clock.advance(30)
    stopper.set()
    await asyncio.wait_for(task, 5)
    # "sleep after" would start at 0, 690, 1380...; a cadence starts every 600 s.
    assert starts[:3] == [0.0, 600.0, 1200.0]


async def test_a_sweeper_whose_budget_affords_a_pass_sooner_sets_a_shorter_cadence() -> None:
    # The sweeper says 7 minutes after its first sweep, 12 after its second (longer
    # than the 10-minute interval, which stays the longest wait).
    clock = FakeClock(T0)
    starts: list[float] = []
    cadences = iter([420.0, 720.0])

    async def sweep(name: str) -> SweepStats:
        starts.append(clock.monotonic())
        await clock.sleep(30)
        return stats(clock)

    def cadence(name: str) -> float:
        return min(next(cadences, 600.0), INTERVAL.total_seconds())

    stopper = Stopper(clock)
    coord = SourceCoordinator("acme", INTERVAL, sweep, clock, stopper, jitter=lambda: 0.0,
                              cadence=cadence)
    task = asyncio.create_task(coord.run())
    for _ in range(80):
        await settle()
        clock.advance(30)
    stopper.set()
    await asyncio.wait_for(task, 5)
    assert starts[:4] == [0.0, 420.0, 1020.0, 1620.0]
    assert coord.skipped == 0


async def test_a_sweep_that_overruns_skips_the_slots_it_missed() -> None:
    clock = FakeClock(T0)
    starts: list[float] = []

    async def sweep(name: str) -> SweepStats:
        starts.append(clock.monotonic())
        await clock.sleep(1300 if len(starts) == 1 else 10)
        return stats(clock)

    stopper = Stopper(clock)
    coord = SourceCoordinator("acme", INTERVAL, sweep, clock, stopper, jitter=lambda: 0.0)
    task = asyncio.create_task(coord.run())
    for _ in range(80):
        await settle()
        clock.advance(25)
    stopper.set()
    await asyncio.wait_for(task, 5)
    assert starts[:2] == [0.0, 1800.0], "slots at 600 and 1200 were missed, not run late"
    assert coord.skipped == 2


async def test_the_first_sweep_outcome_is_kept_and_a_raising_sweep_keeps_the_cadence() -> None:
    clock = FakeClock(T0)
    calls = 0

    async def sweep(name: str) -> SweepStats:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TransportError("connection refused")
        return stats(clock, ok=False)

    stopper = Stopper(clock)
    coord = SourceCoordinator("acme", INTERVAL, sweep, clock, stopper, jitter=lambda: 0.0)
    task = asyncio.create_task(coord.run())
    await settle()
    assert calls == 1
    assert not coord.first_sweep.done(), "an aborted sweep is not an outcome"
    clock.advance(INTERVAL)
    await settle()
    assert calls == 2
    first = await asyncio.wait_for(coord.first_sweep, 5)
    assert first.ok is False
    stopper.set()
    await asyncio.wait_for(task, 5)


async def test_a_stop_ends_the_wait_for_the_next_slot_at_once() -> None:
    clock = FakeClock(T0)

    async def sweep(name: str) -> SweepStats:
        return stats(clock)

    stopper = Stopper(clock)
    coord = SourceCoordinator("acme", INTERVAL, sweep, clock, stopper)
    task = asyncio.create_task(coord.run())
    await settle()
    stopper.set()
    await asyncio.wait_for(task, 5)  # no clock.advance needed
    assert clock.monotonic() == 0.0


def test_jitter_is_bounded_reproducible_per_source_and_spreads_sources() -> None:
    a1, a2, b = (jitter_for(n, timedelta(hours=4)) for n in ("acme", "acme", "beta"))
    draws = [a1() for _ in range(200)]
    assert draws == [a2() for _ in range(200)]
    assert all(0.0 <= d <= MAX_JITTER.total_seconds() for d in draws)
    assert draws != [b() for _ in range(200)]
    small = jitter_for("acme", timedelta(seconds=20))
    assert all(0.0 <= small() <= 1.0 for _ in range(200)), "at most 5% of a short interval"
