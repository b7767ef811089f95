"""Source health: one record per source, kept in one place, rebuilt from the store.

What the daemon knows of a source's recent sweeps (last success, when it started
failing, how many sweeps in a row failed, whether the last failure was the token's) is
held by one :class:`HealthBook`. The coordinator records each sweep in it; the status
provider, the readiness check and the "source unhealthy" alert read it. On start it is
rebuilt from what the store remembers (:class:`HealthHistory`), so a restart neither
forgets that a source has been failing for hours nor re-raises the alert from zero.

A sweep whose results the store refuses (read-only, locked, full) counts as a failure of
its source, and the book remembers the store's failure (:attr:`HealthBook.store_failure`)
until a sweep is recorded again: the readiness check reports it, since nothing seen can
be announced meanwhile.

The book reads the store through one narrow call, so moving failure counters into the
store itself changes :meth:`HealthBook.restore` and nothing else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from monitor.clock import format_age
from monitor.models import Finding, Severity, SourceKind, SubjectKind, SweepStats
from monitor.store.base import Store

log = structlog.get_logger(__name__)

SOURCE_UNHEALTHY_RULE = "monitor.source.unhealthy"
#: How many recent sweeps each source keeps in memory (the status page shows 20).
HISTORY_KEPT = 50


class HealthHistory(Protocol):
    """What health is rebuilt from: the latest sweeps of a source, newest first."""

    async def recent_sweeps(self, source: str, limit: int) -> Sequence[SweepStats]:
        """Up to ``limit`` sweeps of ``source``, newest first."""
        ...


class StoreHistory:
    """:class:`HealthHistory` over the store's sweep records."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def recent_sweeps(self, source: str, limit: int) -> list[SweepStats]:
        """The latest sweeps of ``source``, newest first."""
        return [r.stats for r in await self._store.sweeps(source, limit=limit)]


@dataclass
class SourceHealth:
    """What the daemon knows of one source's recent sweeps.

    ``auth_failed``: the last sweep failed because the API refused the token (401/403);
    waiting does not help, an operator must act. ``history``: oldest first.
    """

    name: str
    kind: str
    last_success: datetime | None = None
    failing_since: datetime | None = None
    consecutive_failures: int = 0
    last_error: str = ""
    auth_failed: bool = False
    history: list[SweepStats] = field(default_factory=list)
    #: Seconds between two sweeps as the source's budget affords them now (None: the
    #: configured interval, until the first sweep says otherwise).
    cadence_s: float | None = None

    @property
    def swept(self) -> bool:
        """Whether any sweep of the source is known (since start, or from the store)."""
        return bool(self.history)

    @property
    def healthy(self) -> bool:
        """Swept successfully at least once, and the last sweep succeeded."""
        return self.consecutive_failures == 0 and self.last_success is not None

    def record(self, stats: SweepStats, *, auth_failed: bool = False, quiet: bool = False) -> None:
        """Take one finished sweep into account; failure and recovery are logged once each
        (not at all when ``quiet``: replaying the store's history on start)."""
        self.history = [*self.history[-(HISTORY_KEPT - 1) :], stats]
        if stats.ok:
            if self.consecutive_failures and not quiet:
                log.info(
                    "source recovered", source=self.name, failed_sweeps=self.consecutive_failures
                )
            self.consecutive_failures = 0
            self.failing_since = None
            self.last_success = stats.finished_at
            self.last_error = ""
            self.auth_failed = False
            return
        error = stats.error or "sweep incomplete"
        if not quiet and (not self.consecutive_failures or auth_failed != self.auth_failed):
            event = "source refuses the token" if auth_failed else "source failing"
            log.warning(event, source=self.name, error=error, errors=stats.errors)
        if not self.consecutive_failures:
            self.failing_since = stats.finished_at
        self.consecutive_failures += 1
        self.last_error = error
        self.auth_failed = auth_failed

    def unhealthy_finding(self, kind: SourceKind, threshold: timedelta, now: datetime) -> (
        Finding | None
    ):
        """The "source unhealthy" finding, once failing for ``threshold`` (at once when
        the token is refused: no amount of waiting repairs it)."""
        if self.failing_since is None:
            return None
        if not self.auth_failed and now - self.failing_since < threshold:
            return None
        cause = "its token is refused" if self.auth_failed else "it keeps failing"
        return Finding(
            rule_id=SOURCE_UNHEALTHY_RULE,
            source=self.name,
            source_kind=kind,
            device_id="",
            device_name=self.name,
            device_serial="",
            subject_kind=SubjectKind.SOURCE,
            subject_id=self.name,
            subject_name=f"{kind.value} source {self.name}",
            subject_status="unhealthy",
            severity=Severity.CRITICAL,
            summary=(
                f"{self.name} has not been swept successfully for "
                f"{format_age((now - self.failing_since).total_seconds())} "
                f"({cause}): {self.last_error}"
            ),
            labels={
                "rule_id": SOURCE_UNHEALTHY_RULE,
                "severity": "critical",
                "source": self.name,
                "source_kind": kind.value,
                "subject_kind": SubjectKind.SOURCE.value,
            },
        )

    def copy(self) -> SourceHealth:
        """A copy to record a sweep in before the sweep is stored."""
        return dataclasses.replace(self, history=list(self.history))

    def record_store_failure(self, reason: str, at: datetime) -> None:
        """The sweep ran but the store refused its results: a failure all the same."""
        if not self.consecutive_failures:
            self.failing_since = at
        self.consecutive_failures += 1
        self.last_error = f"store: {reason}"

    @classmethod
    def rebuilt(cls, name: str, kind: str, newest_first: Sequence[SweepStats]) -> SourceHealth:
        """The health a run of sweeps (newest first) leaves behind."""
        health = cls(name, kind)
        for stats in reversed(newest_first):
            health.record(stats, quiet=True)
        return health


class HealthBook:
    """Every enabled source's health, by name (iteration follows the config's order)."""

    def __init__(self, sources: Iterable[tuple[str, str]]) -> None:
        self._by_name = {name: SourceHealth(name, kind) for name, kind in sources}
        self.store_failure: str | None = None
        """Why the last sweep could not be written to the store; None once one was."""

    def store_failed(self, name: str, reason: str, at: datetime) -> None:
        """A sweep of ``name`` could not be recorded (logged once, until it recovers)."""
        if self.store_failure is None:
            log.error("store failing: sweeps are not recorded", source=name, error=reason)
        self.store_failure = reason
        if name in self._by_name:
            self._by_name[name].record_store_failure(reason, at)

    def store_recovered(self) -> None:
        """A sweep was recorded again."""
        if self.store_failure is not None:
            log.info("store recovered")
        self.store_failure = None

    def publish(self, health: SourceHealth) -> None:
        """Make ``health`` (a copy a stored sweep was recorded in) the source's health."""
        if health.name in self._by_name:
            self._by_name[health.name] = health

    def __getitem__(self, name: str) -> SourceHealth:
        return self._by_name[name]

    def __iter__(self) -> Iterator[SourceHealth]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    async def restore_source(self, name: str, history: HealthHistory) -> None:
        """Rebuild one source's health from the store (its lease was just taken: another
        instance may have swept it meanwhile)."""
        if name in self._by_name:
            recent = await history.recent_sweeps(name, HISTORY_KEPT)
            kind = self._by_name[name].kind
            self._by_name[name] = SourceHealth.rebuilt(name, kind, recent)

    async def restore(self, history: HealthHistory) -> None:
        """Rebuild every source's health from the sweeps the store remembers."""
        for name, health in self._by_name.items():
            recent = await history.recent_sweeps(name, HISTORY_KEPT)
            if recent:
                self._by_name[name] = SourceHealth.rebuilt(name, health.kind, recent)
