"""The daemon killed with SIGKILL at random points, dozens of times, loses no notification.

The harness is ``bench/crash.py`` (run it longer there); see its docstring for what is
killed when and how "due" is derived from the simulated fleet, not from the daemon.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.crash import CrashConfig, run_crash_test
from tests.e2e.alerting_support import fresh_logging  # noqa: F401 - a fixture

pytestmark = pytest.mark.usefixtures("fresh_logging")


async def test_sigkill_during_sweeps_and_deliveries_loses_nothing(tmp_path: Path) -> None:
    report = await run_crash_test(tmp_path, CrashConfig(rounds=8, kills_per_round=4, seed=1))
    assert report.problems() == [], report
    assert report.kills == 32
    assert report.runs == report.kills + 1
    # the kills landed where it matters
    assert report.kill_kinds["sweep"] > 0, report.kill_kinds
    assert report.kill_kinds["sent"] + report.kill_kinds["arriving"] > 0, report.kill_kinds
    # there was real work: notifications became due round after round, all delivered
    assert report.due >= 20, report
    assert report.lost == 0
    assert report.unique == report.outbox_messages
    # one message in flight at a time (notify.outbox.parallel: 1, the default): a crash
    # duplicates at most the one message it interrupted
    assert report.duplicated <= report.kills
    assert report.duplicated_within_one_run == 0
    assert report.most_duplicated_by_one_crash <= 1


async def test_the_harness_notices_a_receiver_that_forgets_messages(tmp_path: Path) -> None:
    # A receiver that acknowledges its first message and forgets it is what a lost
    # notification looks like from outside; the harness must report it.
    report = await run_crash_test(
        tmp_path,
        CrashConfig(rounds=1, kills_per_round=1, seed=1, settle_timeout=4.0, drop_deliveries=1),
    )
    assert report.lost >= 1, report
    assert report.problems()
