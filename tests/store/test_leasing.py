"""The lease keeper on a real store (both backends): sources spread over the live
instances, a dead instance's sources taken over after the TTL, a paused one loses them."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from monitor.clock import FakeClock
from monitor.errors import StaleLeaseError
from monitor.leasing import DUTIES, LeaseKeeper
from monitor.store import SqlStore, open_store
from tests.store.helpers import T0, draft, log_entry

TTL = timedelta(seconds=30)
SOURCES = ["acme", "globex", "initech", "umbrella"]
#: What the keepers share out: the sources and the cluster's duties.
LEASED = [*SOURCES, DUTIES]


@pytest.fixture
async def stores(target: str) -> AsyncIterator[list[SqlStore]]:
    """Three stores (connections) on one database: one per instance."""
    opened = [open_store(target) for _ in range(3)]
    for s in opened:
        await s.open()
    yield opened
    for s in opened:
        await s.close()


def keepers(stores: list[SqlStore], clock: FakeClock) -> list[LeaseKeeper]:
    return [LeaseKeeper(s, f"i{n}", SOURCES, TTL, clock) for n, s in enumerate(stores)]


async def tick_all(ks: list[LeaseKeeper], clock: FakeClock, rounds: int = 1) -> None:
    for _ in range(rounds):
        for k in ks:
            await k.tick()
        clock.advance(TTL / 3)


def holders(ks: list[LeaseKeeper]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k in ks:
        for source in k.held():
            assert source not in out, f"{source} held twice"
            out[source] = k.owner
    return out


async def test_sources_spread_over_the_live_instances(stores: list[SqlStore]) -> None:
    clock = FakeClock(T0)
    ks = keepers(stores, clock)
    # the first instance starts alone and takes everything
    await tick_all(ks[:1], clock)
    assert holders(ks) == dict.fromkeys(LEASED, "i0")
    # the others join: within a few ticks every lease has one holder, shared 2/2/1
    await tick_all(ks, clock, rounds=4)
    held = holders(ks)
    assert sorted(held) == sorted(LEASED)
    assert sorted(Counter(held.values()).values()) == [1, 2, 2]


async def test_a_dead_instances_sources_are_taken_over_after_the_ttl(
    stores: list[SqlStore],
) -> None:
    clock = FakeClock(T0)
    ks = keepers(stores, clock)
    await tick_all(ks, clock, rounds=4)
    dead = next(k for k in ks if k.held())
    lost = set(dead.held())
    survivors = [k for k in ks if k is not dead]
    died_at = clock.now()
    taken_at = None
    for _ in range(12):  # the dead one no longer ticks
        await tick_all(survivors, clock)
        if lost <= set(holders(survivors)):
            taken_at = clock.now()
            break
    assert taken_at is not None
    assert taken_at - died_at <= 2 * TTL
    assert sorted(holders(survivors)) == sorted(LEASED)
    assert sum(k.takeovers for k in survivors) >= len(lost)


async def test_a_paused_instance_loses_its_leases_and_its_writes(
    stores: list[SqlStore],
) -> None:
    clock = FakeClock(T0)
    ks = keepers(stores, clock)
    await tick_all(ks, clock, rounds=4)
    paused = next(k for k in ks if k.held())
    source, old = next(iter(paused.held().items()))
    others = [k for k in ks if k is not paused]
    await tick_all(others, clock, rounds=6)  # the paused one sleeps past its TTL
    # resumed: its lease has lapsed, so it holds nothing before it even ticks
    assert paused.holds(source) is None
    with pytest.raises(StaleLeaseError):
        await stores[ks.index(paused)].enqueue(
            draft("g", 1, clock.now()), log_entry("g", {"x"}, clock.now()), lease=old
        )
    await paused.tick()
    assert source not in paused.held()
    assert holders(ks)[source] != paused.owner


async def test_a_clean_stop_hands_the_sources_over_at_once(stores: list[SqlStore]) -> None:
    clock = FakeClock(T0)
    ks = keepers(stores, clock)
    await tick_all(ks, clock, rounds=4)
    leaving = next(k for k in ks if k.held())
    await leaving.release_all()
    rest = [k for k in ks if k is not leaving]
    await tick_all(rest, clock, rounds=2)  # well within one TTL
    assert sorted(holders(rest)) == sorted(LEASED)
