"""Source health: one record per source, rebuilt from the store's sweeps on start;
a refused token raises the unhealthy alert at once, transient failures after a while."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.alerts import StepResult
from monitor.health import SOURCE_UNHEALTHY_RULE, HealthBook, SourceHealth, StoreHistory
from monitor.models import SourceKind, SweepStats
from monitor.store import open_store

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
THRESHOLD = timedelta(minutes=30)


def sweep(minute: int, *, ok: bool, error: str = "") -> SweepStats:
    at = T0 + timedelta(minutes=minute)
    return SweepStats(source="acme", started_at=at, finished_at=at, ok=ok, error=error)


def test_transient_failures_raise_the_unhealthy_finding_only_after_the_threshold() -> None:
    h = SourceHealth("acme", "kandji")
    h.record(sweep(0, ok=True))
    h.record(sweep(10, ok=False, error="HTTP 503"))
    h.record(sweep(20, ok=False, error="HTTP 503"))
    assert h.failing_since == T0 + timedelta(minutes=10)
    assert h.consecutive_failures == 2
    assert h.unhealthy_finding(SourceKind("kandji"), THRESHOLD, T0 + timedelta(minutes=30)) is None
    finding = h.unhealthy_finding(SourceKind("kandji"), THRESHOLD, T0 + timedelta(minutes=40))
    assert finding is not None
    assert finding.rule_id == SOURCE_UNHEALTHY_RULE
    assert "HTTP 503" in finding.summary


def test_a_refused_token_raises_the_unhealthy_finding_at_once() -> None:
    h = SourceHealth("acme", "kandji")
    h.record(sweep(0, ok=False, error="list devices: HTTP 401"), auth_failed=True)
    assert h.auth_failed
    finding = h.unhealthy_finding(SourceKind("kandji"), THRESHOLD, T0 + timedelta(seconds=1))
    assert finding is not None
    assert "token is refused" in finding.summary


def test_recovery_clears_the_failure_and_the_finding() -> None:
    h = SourceHealth("acme", "kandji")
    h.record(sweep(0, ok=False, error="x"), auth_failed=True)
    h.record(sweep(10, ok=True))
    assert h.healthy
    assert not h.auth_failed
    assert h.failing_since is None
    assert h.unhealthy_finding(SourceKind("kandji"), THRESHOLD, T0 + timedelta(days=1)) is None


class History:
    def __init__(self, by_source: dict[str, list[SweepStats]]) -> None:
        self.by_source = by_source

    async def recent_sweeps(self, source: str, limit: int) -> Sequence[SweepStats]:
        return list(reversed(self.by_source.get(source, [])))[:limit]


async def test_a_restart_remembers_since_when_a_source_has_been_failing() -> None:
    book = HealthBook([("acme", "kandji"), ("fresh", "applivery")])
    await book.restore(History({"acme": [
        sweep(0, ok=True), sweep(10, ok=False, error="a"), sweep(20, ok=False, error="b"),
    ]}))
    acme = book["acme"]
    assert acme.last_success == T0
    assert acme.failing_since == T0 + timedelta(minutes=10)
    assert acme.consecutive_failures == 2
    assert acme.last_error == "b"
    assert [s.finished_at for s in acme.history] == [
        T0, T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)
    ]
    assert not book["fresh"].swept
    assert book["fresh"].last_success is None


async def test_health_is_rebuilt_from_the_sweeps_a_real_store_committed(tmp_path: Path) -> None:
    empty = StepResult(source="acme", alerts={}, changed={}, transitions=(), deleted=frozenset())
    async with open_store(tmp_path / "state.db") as store:
        for s in (sweep(0, ok=True), sweep(10, ok=False, error="HTTP 502")):
            await store.commit_sweep(s, empty)
    async with open_store(tmp_path / "state.db") as store:
        book = HealthBook([("acme", "kandji")])
        await book.restore(StoreHistory(store))
    assert book["acme"].last_success == T0
    assert book["acme"].failing_since == T0 + timedelta(minutes=10)
    assert book["acme"].last_error == "HTTP 502"
