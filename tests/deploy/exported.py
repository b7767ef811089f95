"""The metric names /metrics really exports, and the metric names a PromQL text uses."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from monitor.metrics import AlertSeries, Metrics, StateSnapshot
from monitor.models import SweepStats

_NAME = re.compile(r"\bcompliance_monitor_[a-z0-9_]+\b")


def exported_metric_names() -> frozenset[str]:
    """Every sample name of a scrape with each metric fed once (histogram series included)."""
    m = Metrics()
    m.declare_source("acme", budget_per_hour=5000)
    m.declare_receiver("ops")
    m.observe_request("acme", "/api/v1/devices", 200, 0.1)
    end = datetime(2026, 1, 5, tzinfo=UTC)
    m.observe_sweep(SweepStats("acme", end - timedelta(seconds=3), end, True, budget_remaining=100))
    m.observe_delivery("ops", False)
    m.observe_action("tag", "ok")
    at = datetime(2026, 1, 5, tzinfo=UTC)
    snapshot = StateSnapshot(
        {AlertSeries("r", "warning", "firing", "acme"): 1}, 2, 1,
        firing_since={("r", "warning"): (at,)},
    )
    m.set_state_callback(lambda: snapshot, now=lambda: at + timedelta(days=2))
    names: set[str] = set()
    for family in text_string_to_metric_families(m.render().decode()):
        names.update(s.name for s in family.samples)
    return frozenset(names)


def metric_names_in(text: str) -> set[str]:
    """The ``compliance_monitor_*`` names a PromQL expression mentions."""
    return set(_NAME.findall(text))
