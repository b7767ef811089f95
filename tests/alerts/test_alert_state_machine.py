"""The alert state machine, table-driven, with time given as ``now``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from monitor.alerts import (
    DEVICE_GONE_RULE,
    DEVICE_SILENT_RULE,
    StepResult,
    baseline_rules,
    inhibited_fingerprints,
    step,
)
from monitor.config import InhibitConfig
from monitor.models import (
    Alert,
    AlertState,
    Coverage,
    FactKind,
    Finding,
    Severity,
    SourceKind,
    SubjectKind,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SWEEP = timedelta(minutes=5)
ALL_KINDS = frozenset(FactKind)


def finding(
    device: str = "d1",
    item: str = "i1",
    *,
    rule: str = "kandji.library-item.failed",
    source: str = "acme",
    for_s: float = 0.0,
    keep_s: float = 0.0,
    status: str = "ERROR",
) -> Finding:
    return Finding(
        rule_id=rule,
        source=source,
        source_kind=SourceKind("kandji"),
        device_id=device,
        device_name=f"Mac {device}",
        device_serial=f"C02{device.upper()}",
        subject_kind=SubjectKind.LIBRARY_ITEM,
        subject_id=item,
        subject_name=f"Item {item}",
        subject_status=status,
        severity=Severity.WARNING,
        summary=f"Item {item} is {status} on Mac {device}",
        for_seconds=for_s,
        keep_firing_for_seconds=keep_s,
    )


def coverage(
    devices: Sequence[str] = ("d1", "d2", "d3"),
    *,
    source: str = "acme",
    kinds: frozenset[FactKind] = ALL_KINDS,
    complete: bool = True,
    partial: Mapping[FactKind, frozenset[str]] | None = None,
) -> Coverage:
    return Coverage(
        source=source,
        devices=frozenset(devices),
        device_list_complete=complete,
        complete_kinds=kinds,
        partial=partial or {},
    )


def run(
    sweeps: Sequence[Sequence[Finding]],
    *,
    cov: Coverage | None = None,
    start: Mapping[str, Alert] | None = None,
    every: timedelta = SWEEP,
) -> tuple[dict[str, Alert], list[StepResult]]:
    """Feed one list of findings per sweep, ``every`` apart from T0."""
    alerts: dict[str, Alert] = dict(start or {})
    results = []
    for i, found in enumerate(sweeps):
        result = step(alerts, found, cov or coverage(), T0 + i * every)
        for fp in result.deleted:
            alerts.pop(fp, None)
        alerts.update(result.changed)
        results.append(result)
    return alerts, results


def states(results: Sequence[StepResult], fp: str) -> list[str]:
    out = []
    for r in results:
        a = r.alerts.get(fp)
        out.append(a.state.value if a else "-")
    return out


F = finding()


@pytest.mark.parametrize(
    ("for_s", "matches", "expected"),
    [
        (0, [1, 1, 1], ["firing", "firing", "firing"]),
        (600, [1, 1, 1, 1], ["pending", "pending", "firing", "firing"]),
        (900, [1, 1, 1, 1, 1], ["pending", "pending", "pending", "firing", "firing"]),
        # pending that stops matching is dropped without a trace
        (600, [1, 0, 1, 1], ["pending", "-", "pending", "pending"]),
        (600, [1, 1, 0], ["pending", "pending", "-"]),
    ],
)
def test_pending_becomes_firing_after_for(
    for_s: float, matches: list[int], expected: list[str]
) -> None:
    f = finding(for_s=for_s)
    _, results = run([[f] if m else [] for m in matches])
    assert states(results, f.fingerprint) == expected


def test_pending_dropped_silently_leaves_no_transition() -> None:
    f = finding(for_s=600)
    _, results = run([[f], []])
    assert results[1].transitions == ()
    assert results[1].deleted == {f.fingerprint}


@pytest.mark.parametrize(
    ("keep_s", "matches", "expected"),
    [
        (0, [1, 0, 0], ["firing", "resolved", "resolved"]),
        (600, [1, 0, 0, 0], ["firing", "firing", "firing", "resolved"]),
        # matching again during the hold cancels it; the hold restarts from scratch
        (600, [1, 0, 1, 0, 0, 0], ["firing", "firing", "firing", "firing", "firing", "resolved"]),
    ],
)
def test_firing_resolves_only_after_keep_firing_for(
    keep_s: float, matches: list[int], expected: list[str]
) -> None:
    f = finding(keep_s=keep_s)
    _, results = run([[f] if m else [] for m in matches])
    assert states(results, f.fingerprint) == expected


def test_resolved_at_is_when_data_first_stopped_matching() -> None:
    f = finding(keep_s=600)
    alerts, _ = run([[f], [], [], []])
    assert alerts[f.fingerprint].resolved_at == T0 + SWEEP


def test_flapping_item_over_50_sweeps_is_one_alert_firing_once() -> None:
    f = finding(keep_s=15 * 60)
    alerts, results = run([[f] if i % 2 == 0 else [] for i in range(50)])
    transitions = [t for r in results for t in r.transitions]
    assert [(t.previous, t.current) for t in transitions] == [(None, AlertState.FIRING)]
    assert alerts[f.fingerprint].state is AlertState.FIRING
    assert alerts[f.fingerprint].active_since == T0


def test_resolved_alert_that_matches_again_starts_a_new_run() -> None:
    f = finding()
    alerts, results = run([[f], [], [f]])
    alert = alerts[f.fingerprint]
    assert alert.state is AlertState.FIRING
    assert alert.active_since == T0 + 2 * SWEEP
    assert alert.firing_since == T0 + 2 * SWEEP
    assert alert.resolved_at is None
    last = results[2].transitions
    assert [(t.previous, t.current) for t in last] == [(AlertState.RESOLVED, AlertState.FIRING)]


def test_resolved_alert_matching_again_with_for_goes_pending_first() -> None:
    f = finding(for_s=600)
    _, results = run([[f], [f], [f], [], [f]])
    assert states(results, f.fingerprint) == ["pending", "pending", "firing", "resolved", "pending"]


def test_resolved_alerts_are_deleted_after_retention() -> None:
    f = finding()
    alerts, _ = run([[f], []])
    later = T0 + timedelta(days=8)
    result = step(alerts, [], coverage(), later)
    assert result.deleted == {f.fingerprint}


def test_other_sources_are_untouched() -> None:
    other = finding(source="other")
    alerts, _ = run([[]], cov=coverage(source="other"))
    alerts, _ = run([[other]], cov=coverage(source="other"))
    result = step(alerts, [], coverage(source="acme"), T0 + SWEEP)
    assert other.fingerprint not in result.alerts
    assert result.changed == {}
    assert result.deleted == frozenset()


def test_finding_of_another_source_is_refused() -> None:
    with pytest.raises(ValueError, match="belongs to source"):
        step({}, [finding(source="other")], coverage(source="acme"), T0)


@pytest.mark.parametrize(
    ("label", "cov"),
    [
        ("device missing from a partial device list", coverage(["d2"], complete=False)),
        ("device missing from a complete list", coverage(["d2"])),
        ("library items not fetched", coverage(kinds=frozenset({FactKind.DEVICE}))),
        (
            "library items fetched for other devices only",
            coverage(
                kinds=frozenset({FactKind.DEVICE}),
                partial={FactKind.LIBRARY_ITEMS: frozenset({"d2", "d3"})},
            ),
        ),
        ("sweep failed: nothing observed", coverage([], complete=False, kinds=frozenset())),
    ],
)
def test_alert_not_freshly_observed_is_held(label: str, cov: Coverage) -> None:
    f = finding(keep_s=0)
    alerts, _ = run([[f]])
    before = alerts[f.fingerprint]
    result = step(alerts, [], cov, T0 + timedelta(hours=3))
    assert result.alerts[f.fingerprint] == before, label
    assert result.changed == {}
    assert result.transitions == ()


def test_held_pending_alert_is_neither_dropped_nor_promoted() -> None:
    f = finding(for_s=600)
    alerts, _ = run([[f]])
    result = step(alerts, [], coverage(kinds=frozenset({FactKind.DEVICE})), T0 + timedelta(hours=1))
    assert result.alerts[f.fingerprint].state is AlertState.PENDING


def test_partial_coverage_including_the_device_resolves() -> None:
    f = finding()
    alerts, _ = run([[f]])
    cov = coverage(
        kinds=frozenset({FactKind.DEVICE}), partial={FactKind.LIBRARY_ITEMS: frozenset({"d1"})}
    )
    result = step(alerts, [], cov, T0 + SWEEP)
    assert result.alerts[f.fingerprint].state is AlertState.RESOLVED


# ---------------------------------------------------------------- baseline


@pytest.mark.parametrize(
    ("mode", "evaluated", "known", "expected"),
    [
        ("announce", {"a", "b"}, set(), set()),
        ("baseline", {"a", "b"}, set(), {"a", "b"}),
        ("baseline", {"a", "b"}, {"a"}, {"b"}),
        ("baseline", {"a"}, {"a", "b"}, set()),
    ],
)
def test_baseline_rules_are_the_rules_never_evaluated_before(
    mode: str, evaluated: set[str], known: set[str], expected: set[str]
) -> None:
    assert baseline_rules(mode, evaluated, known) == expected


def test_baseline_findings_are_recorded_firing_and_marked() -> None:
    f = finding(for_s=3600)
    result = step({}, [f], coverage(), T0, baseline={f.rule_id})
    alert = result.alerts[f.fingerprint]
    assert alert.state is AlertState.FIRING
    assert alert.baseline is True


def test_after_baseline_new_findings_are_ordinary() -> None:
    f1, f2 = finding("d1"), finding("d2")
    first = step({}, [f1], coverage(), T0, baseline={f1.rule_id})
    second = step(first.alerts, [f1, f2], coverage(), T0 + SWEEP)
    assert second.alerts[f1.fingerprint].baseline is True
    assert second.alerts[f2.fingerprint].baseline is False


def test_baseline_alert_that_resolves_and_returns_is_news() -> None:
    f = finding()
    alerts = dict(step({}, [f], coverage(), T0, baseline={f.rule_id}).alerts)
    alerts.update(step(alerts, [], coverage(), T0 + SWEEP).changed)
    again = step(alerts, [f], coverage(), T0 + 2 * SWEEP)
    assert again.alerts[f.fingerprint].baseline is False


def test_evaluated_rules_default_to_rules_with_findings() -> None:
    assert step({}, [finding()], coverage(), T0).evaluated_rules == {"kandji.library-item.failed"}
    given = step({}, [], coverage(), T0, evaluated_rules=["x", "y"])
    assert given.evaluated_rules == {"x", "y"}


# ---------------------------------------------------------------- inhibition

INHIBIT = InhibitConfig(silent_after=timedelta(days=7))


def test_device_gone_from_complete_list_raises_one_device_alert_and_mutes_items() -> None:
    items = [finding("d1", "i1"), finding("d1", "i2"), finding("d2", "i1")]
    first = step({}, items, coverage(), T0, inhibit=INHIBIT)
    gone = step(first.alerts, [items[2]], coverage(["d2", "d3"]), T0 + SWEEP, inhibit=INHIBIT)
    device_alerts = [a for a in gone.alerts.values() if a.rule_id == DEVICE_GONE_RULE]
    assert len(device_alerts) == 1
    assert device_alerts[0].finding.device_id == "d1"
    assert device_alerts[0].finding.subject_kind is SubjectKind.DEVICE
    assert device_alerts[0].state is AlertState.FIRING
    # the item alerts are held, not resolved, and muted
    assert gone.alerts[items[0].fingerprint].state is AlertState.FIRING
    assert inhibited_fingerprints(gone.alerts.values()) == {
        items[0].fingerprint,
        items[1].fingerprint,
    }


def test_device_missing_from_incomplete_list_is_not_gone() -> None:
    items = [finding("d1")]
    first = step({}, items, coverage(), T0, inhibit=INHIBIT)
    later = step(first.alerts, [], coverage(["d2"], complete=False), T0 + SWEEP, inhibit=INHIBIT)
    assert all(a.rule_id != DEVICE_GONE_RULE for a in later.alerts.values())


def test_device_back_in_list_resolves_gone_alert_and_unmutes() -> None:
    f = finding("d1")
    alerts = dict(step({}, [f], coverage(), T0, inhibit=INHIBIT).alerts)
    alerts = dict(step(alerts, [], coverage(["d2"]), T0 + SWEEP, inhibit=INHIBIT).alerts)
    back = step(alerts, [f], coverage(), T0 + 2 * SWEEP, inhibit=INHIBIT)
    gone = next(a for a in back.alerts.values() if a.rule_id == DEVICE_GONE_RULE)
    assert gone.state is AlertState.RESOLVED
    assert inhibited_fingerprints(back.alerts.values()) == frozenset()


@pytest.mark.parametrize(
    ("silent_for", "expect_silent"),
    [
        (timedelta(days=6, hours=23), False),
        (timedelta(days=7), True),
        (timedelta(days=30), True),
    ],
)
def test_device_silent_longer_than_silent_after_mutes_its_alerts(
    silent_for: timedelta, expect_silent: bool
) -> None:
    f = finding("d1")
    result = step(
        {}, [f], coverage(), T0, inhibit=INHIBIT, device_last_check_in={"d1": T0 - silent_for}
    )
    silent = [a for a in result.alerts.values() if a.rule_id == DEVICE_SILENT_RULE]
    assert bool(silent) is expect_silent
    assert (f.fingerprint in inhibited_fingerprints(result.alerts.values())) is expect_silent


def test_silent_device_checking_in_again_resolves_the_silent_alert() -> None:
    f = finding("d1")
    old = {"d1": T0 - timedelta(days=9)}
    first = step({}, [f], coverage(), T0, inhibit=INHIBIT, device_last_check_in=old)
    back = step(
        first.alerts, [f], coverage(), T0 + SWEEP, inhibit=INHIBIT,
        device_last_check_in={"d1": T0 + SWEEP},
    )
    silent = next(a for a in back.alerts.values() if a.rule_id == DEVICE_SILENT_RULE)
    assert silent.state is AlertState.RESOLVED


def test_device_without_alerts_gets_no_device_alert() -> None:
    result = step(
        {}, [], coverage(), T0, inhibit=INHIBIT,
        device_last_check_in={"d3": T0 - timedelta(days=60)},
    )
    assert result.alerts == {}


def test_a_held_subject_is_neither_resolved_nor_touched() -> None:
    other = finding(device="d2")
    alerts, _ = run([[F, other]])
    # d1's item now reports a status nobody documents: held, while d2's is read afresh.
    result = step(alerts, [], coverage(), T0 + SWEEP, held={("d1", "library_item", "i1")})
    assert F.fingerprint not in result.changed
    assert result.alerts[F.fingerprint].state is AlertState.FIRING
    assert result.alerts[other.fingerprint].state is AlertState.RESOLVED
