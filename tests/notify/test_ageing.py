"""Ageing: an alert's age routes it (``age: {over: 3d}``), crossing a boundary re-routes
it as an ``escalated`` notification without resolving it where it was, templates show
ages, and /metrics exports their distribution. Driven on the fake clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from monitor.clock import FakeClock
from monitor.config import RouteConfig
from monitor.metrics import Metrics, StateSnapshot, firing_starts
from monitor.models import Alert, AlertState, NotifyReason, Severity
from monitor.notify import NotifyPipeline
from monitor.notify.routing import alert_age, build_routes
from monitor.notify.templates import age_text
from monitor.store import SqlStore
from tests.notify.helpers import T0, RecordingSender, finding, make_config, sweep

H = timedelta(hours=1)
D = timedelta(days=1)

TREE: dict[str, Any] = {
    "receiver": "slack",
    "routes": [
        {"match": {"severity": "critical"}, "age": {"over": "3d"}, "receiver": "pager"},
        {"match": {"severity": "critical"}, "receiver": "slack-critical"},
        {"age": {"under": "1h"}, "receiver": "fresh", "continue": True},
    ],
}


@pytest.mark.parametrize(
    ("severity", "age", "expected"),
    [
        ("critical", None, ["slack-critical"]),  # never fired: no age route matches
        ("critical", 3 * D - timedelta(seconds=1), ["slack-critical"]),
        ("critical", 3 * D, ["pager"]),
        ("critical", 30 * D, ["pager"]),
        ("warning", 30 * D, ["slack"]),
        ("warning", 59 * timedelta(minutes=1), ["fresh"]),
        ("warning", H, ["slack"]),
    ],
)
def test_routes_match_on_age(severity: str, age: timedelta | None, expected: list[str]) -> None:
    root = build_routes(RouteConfig.model_validate(TREE))
    assert [r.receiver for r in root.route({"severity": severity}, age)] == expected


@pytest.mark.parametrize(
    ("age", "problem"),
    [({}, "give over, under or both"), ({"over": "3d", "under": "1d"}, "shorter than under")],
)
def test_an_age_matcher_must_make_sense(age: dict[str, str], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        RouteConfig.model_validate({"receiver": "x", "age": age})


def _alert(**changes: Any) -> Alert:
    f = finding("d1")
    base = Alert(fingerprint=f.fingerprint, state=AlertState.FIRING, finding=f,
                 active_since=T0 - H, last_seen=T0, firing_since=T0)
    return replace(base, **changes)


@pytest.mark.parametrize(
    ("alert", "age"),
    [
        (_alert(state=AlertState.PENDING, firing_since=None), None),
        (_alert(), 2 * D),
        # held by keep_firing_for: still firing, still ageing
        (_alert(resolved_at=T0 + D), 2 * D),
        # resolved: its age stops when it resolved, so it stays on its route
        (_alert(state=AlertState.RESOLVED, resolved_at=T0 + D), D),
    ],
)
def test_an_alerts_age_counts_from_when_it_started_firing(
    alert: Alert, age: timedelta | None
) -> None:
    assert alert_age(alert, T0 + 2 * D) == age


@pytest.mark.parametrize(
    ("age", "text"),
    [(timedelta(minutes=12), "12m"), (5 * H, "5h"), (5 * H + timedelta(minutes=10), "5h 10m"),
     (3 * D, "3d"), (3 * D + 4 * H + timedelta(minutes=59), "3d 4h")],
)
def test_age_text(age: timedelta, text: str) -> None:
    assert age_text(age) == text


ESCALATING = {
    "receivers": [{"name": "slack", "console": True}, {"name": "pager", "console": True}],
    "route": {
        "receiver": "slack", "group_wait": "0s", "group_interval": "5m",
        "repeat_interval": "30d",
        "routes": [{"age": {"over": "3d"}, "receiver": "pager"}],
    },
}


async def test_an_alert_crossing_the_age_boundary_is_escalated_not_resolved(
    store: SqlStore, sender: RecordingSender, clock: FakeClock
) -> None:
    p = NotifyPipeline(make_config(**ESCALATING), store, sender, clock)  # type: ignore[arg-type]
    p.kick(await sweep(store, [finding("d1")], clock.now()))
    assert [(m.receiver, m.reason) for m in await p.flush(clock.now())] == [
        ("slack", NotifyReason.FIRST)
    ]
    await p.deliver_due()

    # Each step: a sweep finds it still failing; the pipeline evaluates what is due.
    said: list[tuple[str, NotifyReason]] = []
    for _ in range(12):
        clock.advance(6 * H)
        p.kick(await sweep(store, [finding("d1")], clock.now()))
        said += [(m.receiver, m.reason) for m in await p.flush(clock.now())]
    # Three days in, it moved to the pager once; Slack was not told it resolved.
    assert said == [("pager", NotifyReason.ESCALATED)]
    await p.deliver_due()
    [escalation] = [s for s in sender.sent if s.receiver == "pager"]
    assert escalation.title.startswith("[ESCALATED:1]")
    assert "Escalated: 1 alert still firing, the oldest for 3d" in escalation.body

    # It recovers: the route that holds it now says so; Slack, which let it go, does not.
    clock.advance(6 * H)
    p.kick(await sweep(store, [], clock.now()))
    assert [(m.receiver, m.reason) for m in await p.flush(clock.now())] == [
        ("pager", NotifyReason.RESOLVED)
    ]


async def test_a_new_failure_on_a_young_alert_still_goes_to_slack_as_first(
    store: SqlStore, sender: RecordingSender, clock: FakeClock
) -> None:
    p = NotifyPipeline(make_config(**ESCALATING), store, sender, clock)  # type: ignore[arg-type]
    p.kick(await sweep(store, [finding("d1")], clock.now()))
    await p.flush(clock.now())
    clock.advance(4 * D)
    p.kick(await sweep(store, [finding("d1"), finding("d2")], clock.now(),
                       devices=["d1", "d2"]))
    queued = sorted((m.receiver, m.reason, m.firing) for m in await p.flush(clock.now()))
    assert queued == [("pager", NotifyReason.ESCALATED, 1), ("slack", NotifyReason.FIRST, 1)]


def _scrape_ages(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        if family.name == "compliance_monitor_firing_age_seconds":
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_export_the_distribution_of_firing_ages_per_rule_and_severity() -> None:
    clock = FakeClock(T0 + 10 * D)
    alerts = [
        _alert(firing_since=T0 + 10 * D - 2 * H),
        _alert(firing_since=T0 + 10 * D - 5 * D),
        _alert(finding=replace(finding("d2"), severity=Severity.CRITICAL), firing_since=T0),
        _alert(state=AlertState.PENDING, firing_since=None),
        _alert(state=AlertState.RESOLVED, resolved_at=T0 + D),
    ]
    snapshot = StateSnapshot(firing_since=firing_starts(alerts))
    m = Metrics()
    m.set_state_callback(lambda: snapshot, now=clock.now)
    ages = _scrape_ages(m)
    rule = ("rule_id", "kandji.library-item.failed")
    warn = (rule, ("severity", "warning"))
    name = "compliance_monitor_firing_age_seconds"
    assert ages[(name + "_count", warn)] == 2
    assert ages[(name + "_bucket", (("le", "14400.0"), *warn))] == 1  # under 4h
    assert ages[(name + "_bucket", (("le", "604800.0"), *warn))] == 2  # under 7d
    assert ages[(name + "_sum", warn)] == 2 * 3600 + 5 * 86400
    crit = (rule, ("severity", "critical"))
    assert ages[(name + "_count", crit)] == 1
    assert ages[(name + "_bucket", (("le", "604800.0"), *crit))] == 0  # 10 days old
    # Time moves on between scrapes: the ages grow without a new snapshot.
    clock.advance(3 * D)
    assert _scrape_ages(m)[(name + "_bucket", (("le", "14400.0"), *warn))] == 0
