"""The status page's trend read from a real store, and cached between page loads."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from monitor.digest.trend import TrendCache, daily_trend
from monitor.store import open_store
from tests.notify.helpers import T0, finding, sweep


async def test_trend_from_the_store_counts_alerts_per_day_and_is_cached(tmp_path: Path) -> None:
    async with open_store(tmp_path / "m.db") as store:
        seen = ["d1", "d2", "d3"]
        await sweep(store, [finding("d1", "i1"), finding("d2", "i1")], T0 - timedelta(days=2),
                    devices=seen)
        await sweep(store, [finding("d1", "i1")], T0 - timedelta(days=1),
                    devices=seen)  # d2 resolves
        assert [n for _, n in await daily_trend(store, T0, days=4)] == [0, 2, 2, 1]

        cache = TrendCache(store, days=4, ttl=timedelta(minutes=5))
        assert [n for _, n in await cache.get(T0)] == [0, 2, 2, 1]
        await sweep(store, [finding("d1", "i1"), finding("d3", "i1")], T0, devices=seen)
        assert [n for _, n in await cache.get(T0 + timedelta(minutes=4))] == [0, 2, 2, 1]
        assert [n for _, n in await cache.get(T0 + timedelta(minutes=5))] == [0, 2, 2, 2]
