"""Prometheus metrics of the monitor, in a registry of its own.

Counters and histograms are fed as things happen (``observe_*``). Alert counts and the
outbox depth are read at scrape time from a callback, so the series of an alert group
that no longer exists disappears instead of staying at its last value.

Every metric name starts with ``compliance_monitor_``::

    sweeps_total{source,result}                     result: ok | failed
    sweep_duration_seconds{source}                  histogram
    last_successful_sweep_timestamp_seconds{source} the end of the last sweep that went well
    api_requests_total{source,endpoint,status}      status: HTTP code or an error word
    api_request_duration_seconds{source,endpoint}   histogram
    budget_remaining{source}                        requests left in the budget window
    budget_per_hour{source}                         the source's configured hourly budget
    tenant_budget_remaining{source}                 what the whole tenant has left this hour
    budget_own_share{source}                        this monitor's share of the tenant's spending
    sweep_cadence_seconds{source}                   time between sweeps (interval, or less)
    deliveries_total{receiver,result}               result: ok | failed
    delivery_failures_total{receiver}
    actions_total{action,result}
    alerts{rule_id,severity,state,source}           at scrape time, from the callback
    firing_age_seconds{rule_id,severity}            histogram at scrape time: how long each
                                                    firing alert has been firing
    outbox_depth                                    at scrape time, from the callback
    outbox_dead_letters                             at scrape time, from the callback
    state_up                                        1 when the callback answered

``endpoint`` must be a route template (``/api/v1/devices/{id}/apps``), never a concrete
path: :func:`normalize_endpoint` replaces ids as a safety net against label explosion.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from urllib.parse import urlsplit

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.models import Alert, AlertState, SweepStats

log = structlog.get_logger(__name__)

PREFIX = "compliance_monitor_"
# The classic text format: every Prometheus version reads it, and our names need no escaping.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

SWEEP_BUCKETS: tuple[float, ...] = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600)
REQUEST_BUCKETS: tuple[float, ...] = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_HOUR, _DAY = 3600.0, 86400.0
AGE_BUCKETS = (
    _HOUR, 4 * _HOUR, 12 * _HOUR, _DAY, 3 * _DAY, 7 * _DAY, 14 * _DAY, 30 * _DAY, 90 * _DAY
)


#: Counters fed as things happen: name (after the prefix) -> (help, label names).
COUNTERS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "sweeps_total": ("Sweeps by source and result.", ("source", "result")),
    "api_requests_total": (
        "MDM API requests by source, endpoint and status.", ("source", "endpoint", "status")
    ),
    "deliveries_total": (
        "Notification delivery attempts by receiver and result.", ("receiver", "result")
    ),
    "delivery_failures_total": ("Failed notification delivery attempts.", ("receiver",)),
    "actions_total": ("Remediation actions by action and result.", ("action", "result")),
    "lease_takeovers_total": (
        "Leases this instance took over from another instance (which died or gave the "
        "source up).",
        ("source",),
    ),
}

#: Gauges set as things happen (per source): name -> (help, label names).
GAUGES: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "last_successful_sweep_timestamp_seconds": (
        "Unix time of the end of the last successful sweep.", ("source",)
    ),
    "budget_remaining": ("Requests left in the source's budget window.", ("source",)),
    "budget_per_hour": (
        "Requests per hour this monitor may spend on the source (its budget).", ("source",)
    ),
    "tenant_budget_remaining": (
        "Requests the whole tenant (every integration) has left in its hour, "
        "from the vendor's rate-limit headers.",
        ("source",),
    ),
    "sweep_cadence_seconds": (
        "Seconds between two sweeps of the source: its interval, or less when its budget "
        "affords a full pass sooner.",
        ("source",),
    ),
    "budget_own_share": (
        "This monitor's share (0..1) of what the tenant spent in its current hour.",
        ("source",),
    ),
    "lease_held": (
        "1 while this instance holds the source's lease (sweeps it), else 0.", ("source",)
    ),
}

#: Histograms: name -> (help, label names, buckets).
HISTOGRAMS: Mapping[str, tuple[str, tuple[str, ...], tuple[float, ...]]] = {
    "sweep_duration_seconds": ("Duration of a sweep.", ("source",), SWEEP_BUCKETS),
    "api_request_duration_seconds": (
        "Duration of an MDM API request.", ("source", "endpoint"), REQUEST_BUCKETS
    ),
}


@dataclass(frozen=True, slots=True)
class AlertSeries:
    """The labels of one ``alerts`` series."""

    rule_id: str
    severity: str
    state: str
    source: str


@dataclass(frozen=True, slots=True)
class StateSnapshot:
    """What the state callback reports: alert counts per series, the outbox depth, and
    how many messages were given up on (dead letters, kept until retried or pruned)."""

    alerts: Mapping[AlertSeries, int] = field(default_factory=lambda: MappingProxyType({}))
    outbox_depth: int = 0
    dead_letters: int = 0
    firing_since: Mapping[tuple[str, str], tuple[datetime, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )


StateCallback = Callable[[], StateSnapshot]


def count_alerts(alerts: Iterable[Alert]) -> dict[AlertSeries, int]:
    """Alert counts per (rule_id, severity, state, source), for a :class:`StateSnapshot`."""
    counts: dict[AlertSeries, int] = {}
    for a in alerts:
        key = AlertSeries(a.rule_id, str(a.severity), str(a.state), a.finding.source)
        counts[key] = counts.get(key, 0) + 1
    return counts


def firing_starts(alerts: Iterable[Alert]) -> dict[tuple[str, str], tuple[datetime, ...]]:
    """When each firing alert started firing, per (rule_id, severity), for a
    :class:`StateSnapshot` (ages are taken from it at scrape time)."""
    starts: dict[tuple[str, str], list[datetime]] = {}
    for a in alerts:
        if a.state is AlertState.FIRING and a.firing_since is not None:
            starts.setdefault((a.rule_id, str(a.severity)), []).append(a.firing_since)
    return {key: tuple(values) for key, values in starts.items()}


def _age_buckets(ages: Iterable[float]) -> tuple[list[tuple[str, float]], float]:
    values = sorted(ages)
    buckets, i = [], 0
    for bound in AGE_BUCKETS:
        while i < len(values) and values[i] <= bound:
            i += 1
        buckets.append((repr(float(bound)), float(i)))
    buckets.append(("+Inf", float(len(values))))
    return buckets, sum(values)


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_NUMBER = re.compile(r"^\d+$")
_LONG_HEX = re.compile(r"^[0-9a-fA-F]{16,}$")


def normalize_endpoint(endpoint: str) -> str:
    """``endpoint`` with query, host and id-like path segments removed.

    ``https://x.api.kandji.io/api/v1/devices/6f1c...-.../apps?x=1`` becomes
    ``/api/v1/devices/{id}/apps``; a template such as ``/devices/{id}`` is unchanged.
    """
    path = urlsplit(endpoint).path if "://" in endpoint else endpoint.split("?", 1)[0]
    parts = [
        "{id}" if _UUID.match(p) or _NUMBER.match(p) or _LONG_HEX.match(p) else p
        for p in path.split("/")
    ]
    return "/".join(parts) or "/"


class _StateCollector(Collector):
    """Reads the alert counts and the outbox depth when Prometheus scrapes."""

    def __init__(self) -> None:
        self.callback: StateCallback | None = None
        self.now: Callable[[], datetime] | None = None

    def describe(self) -> Iterable[Metric]:
        # Declared here so that registering does not call collect() (and the callback).
        return list(self._families())

    def _families(
        self,
    ) -> tuple[
        GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily,
        HistogramMetricFamily,
    ]:
        return (
            GaugeMetricFamily(
                PREFIX + "alerts",
                "Alerts by rule, severity, state and source.",
                labels=["rule_id", "severity", "state", "source"],
            ),
            GaugeMetricFamily(PREFIX + "outbox_depth", "Notifications waiting for delivery."),
            GaugeMetricFamily(
                PREFIX + "outbox_dead_letters",
                "Notifications given up on after their last delivery attempt.",
            ),
            GaugeMetricFamily(PREFIX + "state_up", "1 when the alert state could be read."),
            HistogramMetricFamily(
                PREFIX + "firing_age_seconds",
                "How long the firing alerts have been firing, by rule and severity.",
                labels=["rule_id", "severity"],
            ),
        )

    def collect(self) -> Iterable[Metric]:
        alerts, outbox, dead, up, ages = self._families()
        families: list[Metric] = [alerts, outbox, dead, up, ages]
        if self.callback is None:
            up.add_metric([], 0)
            return families
        try:
            snapshot = self.callback()
        except Exception as exc:  # a scrape must answer even when the state cannot be read
            log.warning("metrics state callback failed", error=str(exc))
            up.add_metric([], 0)
            return families
        for key, count in sorted(
            snapshot.alerts.items(), key=lambda kv: (kv[0].rule_id, kv[0].source, kv[0].state)
        ):
            if count:
                alerts.add_metric([key.rule_id, key.severity, key.state, key.source], count)
        outbox.add_metric([], snapshot.outbox_depth)
        dead.add_metric([], snapshot.dead_letters)
        up.add_metric([], 1)
        if self.now is not None:
            now = self.now()
            for (rule_id, severity), starts in sorted(snapshot.firing_since.items()):
                buckets, total = _age_buckets(
                    max((now - s).total_seconds(), 0.0) for s in starts
                )
                ages.add_metric([rule_id, severity], buckets, total)
        return families


class Metrics:
    """Every metric of the monitor, in its own :class:`CollectorRegistry`.

    Create one per process (or per test); :meth:`render` is the ``/metrics`` body.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._counter = {
            name: Counter(PREFIX + name, doc, labels, registry=r)
            for name, (doc, labels) in COUNTERS.items()
        }
        self._gauge = {
            name: Gauge(PREFIX + name, doc, labels, registry=r)
            for name, (doc, labels) in GAUGES.items()
        }
        self._histogram = {
            name: Histogram(PREFIX + name, doc, labels, buckets=buckets, registry=r)
            for name, (doc, labels, buckets) in HISTOGRAMS.items()
        }
        self._state = _StateCollector()
        r.register(self._state)

    def declare_source(self, source: str, *, budget_per_hour: float | None = None) -> None:
        """Create the source's zero-valued series, so rates work from the first sweep;
        ``budget_per_hour`` (its configured budget) lets alerting rules compare
        ``budget_remaining`` with it."""
        for result in ("ok", "failed"):
            self._counter["sweeps_total"].labels(source, result)
        self._histogram["sweep_duration_seconds"].labels(source)
        self._gauge["lease_held"].labels(source)
        self._counter["lease_takeovers_total"].labels(source)
        if budget_per_hour is not None:
            self._gauge["budget_per_hour"].labels(source).set(budget_per_hour)

    def observe_lease(self, source: str, held: bool, takeover: bool) -> None:
        """This instance took (``held``) or lost/gave back a source's lease."""
        self._gauge["lease_held"].labels(source).set(1 if held else 0)
        if takeover:
            self._counter["lease_takeovers_total"].labels(source).inc()

    def declare(self, sources: Mapping[str, int], receivers: Iterable[str]) -> None:
        """Create the zero-valued series of every source (name: requests per hour) and
        every receiver."""
        for name, per_hour in sources.items():
            self.declare_source(name, budget_per_hour=per_hour)
        for name in receivers:
            self.declare_receiver(name)

    def declare_receiver(self, receiver: str) -> None:
        """Create the receiver's zero-valued series."""
        for result in ("ok", "failed"):
            self._counter["deliveries_total"].labels(receiver, result)
        self._counter["delivery_failures_total"].labels(receiver)

    def observe_request(
        self, source: str, endpoint: str, status: int | str, seconds: float
    ) -> None:
        """One MDM API request (each retry is a request). ``status``: HTTP code or error word."""
        ep = normalize_endpoint(endpoint)
        self._counter["api_requests_total"].labels(source, ep, str(status)).inc()
        duration = self._histogram["api_request_duration_seconds"]
        duration.labels(source, ep).observe(max(0.0, seconds))

    def observe_sweep(self, stats: SweepStats) -> None:
        """One finished sweep; its end feeds the last-success timestamp when it went well."""
        source = stats.source
        self._counter["sweeps_total"].labels(source, "ok" if stats.ok else "failed").inc()
        duration = self._histogram["sweep_duration_seconds"]
        duration.labels(source).observe(max(0.0, stats.duration_s))
        if stats.budget_remaining is not None:
            self._gauge["budget_remaining"].labels(source).set(stats.budget_remaining)
        if stats.ok:
            last_success = self._gauge["last_successful_sweep_timestamp_seconds"]
            last_success.labels(source).set(stats.finished_at.timestamp())

    def set_tenant_budget(
        self, source: str, remaining: float | None, own_share: float | None
    ) -> None:
        """What the whole tenant has left of its hour, and this monitor's share of what it
        spent (each when known)."""
        if remaining is not None:
            self._gauge["tenant_budget_remaining"].labels(source).set(remaining)
        if own_share is not None:
            self._gauge["budget_own_share"].labels(source).set(own_share)

    def set_cadence(self, source: str, seconds: float) -> None:
        """The time between two sweeps of the source, as its budget affords them now."""
        self._gauge["sweep_cadence_seconds"].labels(source).set(seconds)

    def set_budget(self, source: str, remaining: float) -> None:
        """Requests left in the source's budget window, between sweeps."""
        self._gauge["budget_remaining"].labels(source).set(remaining)

    def observe_delivery(self, receiver: str, ok: bool) -> None:
        """One delivery attempt to a receiver."""
        self._counter["deliveries_total"].labels(receiver, "ok" if ok else "failed").inc()
        if not ok:
            self._counter["delivery_failures_total"].labels(receiver).inc()

    def observe_action(self, action: str, result: str) -> None:
        """One remediation action (``result``: ok, failed, dry_run, capped, ...)."""
        self._counter["actions_total"].labels(action, result).inc()

    def set_state_callback(
        self, callback: StateCallback | None, *, now: Callable[[], datetime] | None = None
    ) -> None:
        """The function read at scrape time for alert counts, outbox depth and dead letters.

        It is called synchronously from the scrape, so it must answer from memory
        (keep a :class:`StateSnapshot` up to date after each commit). ``now`` (the
        daemon's clock) dates the firing ages; without it they are not exported.
        """
        self._state.callback = callback
        self._state.now = now

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
