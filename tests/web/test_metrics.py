"""Metrics: counters move, scrape-time alert series come and go with the state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.metrics import AlertSeries, Metrics, StateSnapshot, count_alerts, normalize_endpoint
from monitor.models import (
    Alert,
    AlertState,
    Finding,
    Severity,
    SourceKind,
    SubjectKind,
    SweepStats,
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(metrics: Metrics) -> Samples:
    """Every sample of a scrape, keyed by (name, sorted labels)."""
    out: Samples = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def swept(ok: bool, seconds: float, budget_remaining: float, at: datetime) -> SweepStats:
    """A sweep of ``acme`` that ended at ``at``."""
    return SweepStats("acme", at - timedelta(seconds=seconds), at, ok,
                      budget_remaining=budget_remaining)


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_every_metric_name_has_the_product_prefix() -> None:
    m = Metrics()
    m.observe_request("acme", "/api/v1/devices", 200, 0.1)
    m.observe_sweep(swept(True, 3.0, 100, datetime(2026, 1, 5, tzinfo=UTC)))
    m.observe_delivery("ops", False)
    m.observe_action("tag", "ok")
    m.set_state_callback(
        lambda: StateSnapshot({AlertSeries("r", "warning", "firing", "acme"): 1}, 2)
    )
    names = {name for name, _ in scrape(m)}
    assert names
    assert all(n.startswith("compliance_monitor_") for n in names), names


def test_counters_and_histograms_increase() -> None:
    m = Metrics()
    m.observe_request("acme", "/api/v1/devices", 200, 0.2)
    m.observe_request("acme", "/api/v1/devices", 200, 0.3)
    m.observe_request("acme", "/api/v1/devices", 429, 0.05)
    m.observe_request("acme", "/api/v1/devices", "timeout", 30.0)
    s = scrape(m)
    ep = "/api/v1/devices"
    name = "compliance_monitor_api_requests_total"
    assert value(s, name, source="acme", endpoint=ep, status="200") == 2
    assert value(s, name, source="acme", endpoint=ep, status="429") == 1
    assert value(s, name, source="acme", endpoint=ep, status="timeout") == 1
    dur = "compliance_monitor_api_request_duration_seconds"
    assert value(s, dur + "_count", source="acme", endpoint=ep) == 4
    assert value(s, dur + "_sum", source="acme", endpoint=ep) == pytest.approx(30.55)

    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    m.observe_sweep(swept(True, 42.0, 4210, at))
    m.observe_sweep(swept(False, 3.0, 4100, at + timedelta(minutes=5)))
    m.observe_delivery("ops", True)
    m.observe_delivery("ops", False)
    m.observe_delivery("ops", False)
    m.observe_action("kandji.tag", "ok")
    m.observe_action("kandji.tag", "capped")
    s = scrape(m)
    assert value(s, "compliance_monitor_sweeps_total", source="acme", result="ok") == 1
    assert value(s, "compliance_monitor_sweeps_total", source="acme", result="failed") == 1
    assert value(s, "compliance_monitor_sweep_duration_seconds_count", source="acme") == 2
    assert value(s, "compliance_monitor_budget_remaining", source="acme") == 4100
    assert (
        value(s, "compliance_monitor_last_successful_sweep_timestamp_seconds", source="acme")
        == at.timestamp()
    )
    assert value(s, "compliance_monitor_deliveries_total", receiver="ops", result="ok") == 1
    assert value(s, "compliance_monitor_deliveries_total", receiver="ops", result="failed") == 2
    assert value(s, "compliance_monitor_delivery_failures_total", receiver="ops") == 2
    assert value(s, "compliance_monitor_actions_total", action="kandji.tag", result="capped") == 1


def test_declared_series_exist_at_zero_before_anything_happens() -> None:
    m = Metrics()
    m.declare_source("acme")
    m.declare_receiver("ops")
    s = scrape(m)
    assert value(s, "compliance_monitor_sweeps_total", source="acme", result="failed") == 0
    assert value(s, "compliance_monitor_delivery_failures_total", receiver="ops") == 0


def test_alert_series_disappear_when_the_callback_stops_reporting_them() -> None:
    m = Metrics()
    lib = AlertSeries("kandji.library-item.failed", "warning", "firing", "acme")
    fv = AlertSeries("kandji.filevault.off", "critical", "firing", "acme")
    snapshot = StateSnapshot({lib: 3, fv: 1}, outbox_depth=4)
    m.set_state_callback(lambda: snapshot)
    s = scrape(m)
    labels = {"rule_id": lib.rule_id, "severity": "warning", "state": "firing", "source": "acme"}
    assert value(s, "compliance_monitor_alerts", **labels) == 3
    assert value(s, "compliance_monitor_outbox_depth") == 4
    assert value(s, "compliance_monitor_state_up") == 1

    snapshot = StateSnapshot({fv: 1}, outbox_depth=0)
    s = scrape(m)
    assert value(s, "compliance_monitor_alerts", **labels) is None
    alert_series = [k for k in s if k[0] == "compliance_monitor_alerts"]
    assert len(alert_series) == 1
    assert value(s, "compliance_monitor_outbox_depth") == 0


def test_a_failing_callback_leaves_the_scrape_working_and_says_so() -> None:
    m = Metrics()
    m.observe_sweep(swept(True, 1.0, 100, datetime(2026, 1, 5, tzinfo=UTC)))

    def broken() -> StateSnapshot:
        raise RuntimeError("store is gone")

    m.set_state_callback(broken)
    s = scrape(m)
    assert value(s, "compliance_monitor_state_up") == 0
    assert value(s, "compliance_monitor_sweeps_total", source="acme", result="ok") == 1
    assert not [k for k in s if k[0] == "compliance_monitor_alerts"]


def test_two_instances_do_not_share_series() -> None:
    a, b = Metrics(), Metrics()
    a.observe_sweep(swept(True, 1.0, 100, datetime(2026, 1, 5, tzinfo=UTC)))
    assert value(scrape(b), "compliance_monitor_sweeps_total", source="acme", result="ok") is None


def test_count_alerts_groups_by_rule_severity_state_and_source() -> None:
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def mk(device: str, state: AlertState, severity: Severity = Severity.WARNING) -> Alert:
        f = Finding(
            "r1",
            "acme",
            SourceKind("kandji"),
            device,
            device,
            "",
            SubjectKind.DEVICE,
            "",
            "",
            "",
            severity,
            "",
        )
        return Alert(f.fingerprint, state, f, now, now)

    counts = count_alerts(
        [mk("a", AlertState.FIRING), mk("b", AlertState.FIRING), mk("c", AlertState.PENDING)]
    )
    assert counts == {
        AlertSeries("r1", "warning", "firing", "acme"): 2,
        AlertSeries("r1", "warning", "pending", "acme"): 1,
    }


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("/api/v1/devices", "/api/v1/devices"),
        ("/api/v1/devices/{id}/apps", "/api/v1/devices/{id}/apps"),
        ("/api/v1/devices/5f1c2a0e-1111-4000-8000-000000000001/apps", "/api/v1/devices/{id}/apps"),
        ("https://acme.api.kandji.io/api/v1/devices?limit=300&offset=600", "/api/v1/devices"),
        (
            "/organizations/acme/mdm/devices/65f0c0ffee0000000000beef",
            "/organizations/acme/mdm/devices/{id}",
        ),
        ("/api/v1/library/library-items/123/status", "/api/v1/library/library-items/{id}/status"),
    ],
)
def test_endpoint_labels_never_carry_ids(raw: str, normalized: str) -> None:
    assert normalize_endpoint(raw) == normalized


def test_dead_letters_are_a_gauge_read_at_scrape_time() -> None:
    m = Metrics()
    snapshot = StateSnapshot(outbox_depth=1, dead_letters=3)
    m.set_state_callback(lambda: snapshot)
    families = {f.name: f for f in text_string_to_metric_families(m.render().decode())}
    assert families["compliance_monitor_outbox_dead_letters"].type == "gauge"
    assert value(scrape(m), "compliance_monitor_outbox_dead_letters") == 3

    snapshot = StateSnapshot(outbox_depth=1)  # every dead letter retried
    assert value(scrape(m), "compliance_monitor_outbox_dead_letters") == 0


def test_no_dead_letter_value_while_the_state_cannot_be_read() -> None:
    m = Metrics()
    s = scrape(m)
    assert value(s, "compliance_monitor_outbox_dead_letters") is None
    assert value(s, "compliance_monitor_state_up") == 0


def test_a_declared_source_exports_its_hourly_budget() -> None:
    m = Metrics()
    m.declare_source("acme", budget_per_hour=5000)
    m.declare_source("emea")
    s = scrape(m)
    assert value(s, "compliance_monitor_budget_per_hour", source="acme") == 5000
    assert value(s, "compliance_monitor_budget_per_hour", source="emea") is None


def test_the_sweep_cadence_is_exported() -> None:
    m = Metrics()
    m.set_cadence("acme", 772.5)
    assert value(scrape(m), "compliance_monitor_sweep_cadence_seconds", source="acme") == 772.5


def test_the_tenants_hour_and_the_monitors_share_are_exported_when_known() -> None:
    m = Metrics()
    m.set_tenant_budget("acme", 6120, 0.38)
    m.set_tenant_budget("emea", None, None)
    s = scrape(m)
    assert value(s, "compliance_monitor_tenant_budget_remaining", source="acme") == 6120
    assert value(s, "compliance_monitor_budget_own_share", source="acme") == 0.38
    assert value(s, "compliance_monitor_tenant_budget_remaining", source="emea") is None
