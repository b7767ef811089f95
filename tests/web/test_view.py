"""The pure parts of the view: summary counts, grouping, JSON conversion, formatting."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from monitor.models import (
    Alert,
    AlertState,
    Finding,
    Severity,
    SourceKind,
    SubjectKind,
    SweepStats,
)
from monitor.web.page import format_duration, format_relative
from monitor.web.view import (
    AlertView,
    SweepView,
    group_firing,
    matchers_text,
    pending_alerts,
    readiness_reasons,
    resolved_alerts,
    silenced_alerts,
    summarize,
    to_json,
)
from tests.web.sample import NOW, sample_alerts, sample_silences, sample_sources


def test_summary_counts_each_alert_once_and_silenced_ones_only_as_silenced() -> None:
    s = summarize(sample_alerts(), sample_sources(), sample_silences())
    assert (s.firing, s.pending, s.silenced, s.resolved) == (6, 1, 1, 2)
    assert s.firing_by_severity == {"critical": 2, "warning": 4, "info": 0}
    # design-mbp-12 has two firing alerts: it is one device.
    assert s.devices_affected == 5
    assert (s.sources_healthy, s.sources_total, s.silences_active) == (1, 2, 1)
    assert s.status == "firing"


def test_summary_status_is_degraded_when_only_a_source_is_unhealthy() -> None:
    calm = [a for a in sample_alerts() if a.state is not AlertState.FIRING]
    assert summarize(calm, sample_sources(), []).status == "degraded"
    healthy = [dataclasses.replace(s, healthy=True) for s in sample_sources()]
    assert summarize(calm, healthy, []).status == "ok"


def test_firing_groups_are_by_rule_and_severity_most_severe_first_silenced_left_out() -> None:
    groups = group_firing(sample_alerts())
    assert [(g.rule_id, g.severity, len(g.alerts)) for g in groups] == [
        ("kandji.filevault.off", Severity.CRITICAL, 2),
        ("kandji.library-item.failed", Severity.WARNING, 3),
        ("applivery.device.noncompliant", Severity.WARNING, 1),
    ]
    lib = groups[1]
    assert [a.device_name for a in lib.alerts] == ["design-mbp-12", "design-mbp-12", "Jon's iMac"]
    assert lib.devices == 2
    assert all(not a.silenced for g in groups for a in g.alerts)


def test_pending_silenced_and_resolved_lists() -> None:
    alerts = sample_alerts()
    assert [a.device_name for a in pending_alerts(alerts)] == ["sales-air-03"]
    assert [a.device_name for a in silenced_alerts(alerts)] == ["lab-mini-01"]
    assert [a.device_name for a in resolved_alerts(alerts)] == ["Jon's iMac", "ceo-mbp"]


def test_views_from_shared_models() -> None:
    finding = Finding(
        rule_id="kandji.library-item.failed",
        source="acme-macs",
        source_kind=SourceKind("kandji"),
        device_id="d1",
        device_name="mac-1",
        device_serial="C02X",
        subject_kind=SubjectKind.LIBRARY_ITEM,
        subject_id="li-1",
        subject_name="Chrome",
        subject_status="ERROR",
        severity=Severity.WARNING,
        summary="Chrome is ERROR on mac-1",
    )
    alert = Alert(finding.fingerprint, AlertState.FIRING, finding, NOW, NOW, firing_since=NOW)
    view = AlertView.from_alert(
        alert, silenced=True, console_link="https://acme.kandji.io/devices/d1"
    )
    assert (view.fingerprint, view.rule_id, view.subject_kind) == (
        finding.fingerprint,
        "kandji.library-item.failed",
        "library_item",
    )
    assert view.silenced
    assert view.firing_since == NOW

    stats = SweepStats("acme-macs", NOW, NOW + timedelta(seconds=12.5), True, 10, 20, 1, 3)
    assert SweepView.from_stats(stats) == SweepView(NOW, 12.5, True, 10, 20, 1, 3)


def test_to_json_turns_enums_and_datetimes_into_plain_values() -> None:
    data = to_json(sample_sources()[0])
    assert data["kind"] == "kandji"
    assert data["last_success"] == "2026-01-05T08:56:00+00:00"
    assert data["sweeps"][0]["started_at"] == "2026-01-05T08:30:00+00:00"
    assert "last_sweep" not in data  # properties are not fields


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.25, "250ms"), (4.24, "4.2s"), (185, "3m 05s"), (7800, "2h 10m"), (277200, "3d 5h")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("when", "text"),
    [
        (None, "never"),
        (NOW, "just now"),
        (NOW - timedelta(seconds=40), "40s ago"),
        (NOW - timedelta(minutes=5, seconds=20), "5m ago"),
        (NOW - timedelta(hours=2), "2h ago"),
        (NOW - timedelta(hours=4, minutes=30), "4h 30m ago"),
        (NOW + timedelta(days=5), "in 5d"),
        (datetime(2025, 12, 30, 6, 0, tzinfo=UTC), "6d 3h ago"),
    ],
)
def test_format_relative(when: datetime | None, text: str) -> None:
    assert format_relative(when, NOW) == text


def test_matchers_text_quotes_values() -> None:
    text = matchers_text([("device_name", "=~", "lab-.*"), ("comment", "=", 'say "hi"')])
    assert text == 'device_name=~"lab-.*", comment="say \\"hi\\""'


def test_readiness_reasons_name_each_stale_source() -> None:
    macs, windows = sample_sources()  # last success 4m and 42m ago
    never = dataclasses.replace(macs, name="new-tenant", last_success=None)
    intervals = {
        "acme-macs": timedelta(minutes=5),
        "acme-windows": timedelta(minutes=5),
        "new-tenant": timedelta(minutes=5),
    }
    assert readiness_reasons([macs, windows, never], intervals, NOW) == [
        "source acme-windows: no successful sweep for 42m (expected every 5m)",
        "source new-tenant: no successful sweep yet",
    ]
    # Within twice the interval is still fresh; a source without an interval is not judged.
    assert readiness_reasons([windows], {"acme-windows": timedelta(minutes=21)}, NOW) == []
    assert readiness_reasons([windows], {}, NOW) == []
