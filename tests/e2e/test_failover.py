"""Several daemons on one store, tenants' owners killed with SIGKILL: every tenant taken
over within 2 x TTL, every due notification delivered, a duplicate at most per kill.

The harness is ``bench/failover.py`` (run it longer there); see its docstring.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.failover import FailoverConfig, run_failover
from tests.e2e.alerting_support import fresh_logging  # noqa: F401 - a fixture
from tests.postgres import PgDatabase

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("fresh_logging")]


async def test_three_daemons_on_postgresql_take_over_a_killed_owners_tenants(
    tmp_path: Path, pg_database: PgDatabase
) -> None:
    report = await run_failover(
        tmp_path, FailoverConfig(backend="postgresql", instances=3, tenants=4, kills=2)
    )
    assert report.problems() == [], report
    assert report.kills == 2
    assert len(report.takeover_s) >= 2
    assert report.takeover_s_max <= 2 * report.lease_ttl_s
    assert report.due > 0
    assert report.lost == 0
    assert report.duplicates <= report.kills


async def test_two_daemons_on_one_sqlite_file_share_the_tenants(tmp_path: Path) -> None:
    report = await run_failover(
        tmp_path, FailoverConfig(backend="sqlite", instances=2, tenants=4, kills=2)
    )
    assert report.problems() == [], report
    assert report.lost == 0
    assert report.duplicates <= report.kills


async def test_a_paused_instance_writes_and_sends_nothing_under_its_old_epoch(
    tmp_path: Path, pg_database: PgDatabase
) -> None:
    report = await run_failover(
        tmp_path,
        FailoverConfig(backend="postgresql", instances=2, tenants=2, kills=1, mode="pause"),
    )
    assert report.problems() == [], report
    assert report.stale_writes == 0
    assert report.duplicates == 0
    assert len(report.takeover_s) >= 1
