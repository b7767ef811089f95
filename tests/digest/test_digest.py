"""Digest contents from alerts and transitions; its HTML, CSV, JSON and chart."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from monitor.digest.chart import trend_png, trend_svg
from monitor.digest.render import digest_csv, digest_html, digest_json, digest_text
from monitor.digest.summary import Digest, daily_firing, firing_intervals, summarize, verdict
from monitor.models import Alert, AlertState, Severity, Transition
from monitor.sources.links import ConsoleLinks
from tests.notify.helpers import finding

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def firing(device: str, item: str, since: datetime, *, severity: Severity = Severity.WARNING,
           blueprint: str = "Standard", rule: str = "kandji.library-item.failed") -> Alert:
    f = dataclasses.replace(
        finding(device, item, severity=severity, rule=rule), labels={"blueprint": blueprint}
    )
    return Alert(f.fingerprint, AlertState.FIRING, f, since, NOW, firing_since=since)


def resolved_transition(alert: Alert, at: datetime) -> Transition:
    gone = dataclasses.replace(alert, state=AlertState.RESOLVED, resolved_at=at)
    return Transition(alert.fingerprint, AlertState.FIRING, AlertState.RESOLVED, at, gone)


def sample() -> Digest:
    old = firing("d1", "i1", NOW - 20 * DAY, severity=Severity.CRITICAL, blueprint="Lab")
    recent = firing("d2", "i1", NOW - 2 * DAY)
    fixed = firing("d3", "i2", NOW - 10 * DAY, rule="kandji.parameter.error")
    history = [resolved_transition(fixed, NOW - 3 * DAY)]
    alerts = {a.fingerprint: a for a in (old, recent)}
    return summarize(alerts, history, NOW, period=7 * DAY, trend_days=30)


def test_digest_counts_new_resolved_oldest_and_verdict() -> None:
    d = sample()
    assert d.verdict == ("2 alerts firing on 2 devices, worst critical; unchanged "
                         "(1 new, 1 resolved this week).")
    assert d.by_rule == (("kandji.library-item.failed", 2),)
    assert d.by_severity == (("critical", 1), ("warning", 1))
    assert d.by_blueprint == (("Lab", 1), ("Standard", 1))
    assert d.by_source == (("acme", 2),)
    assert [i.alert.finding.device_id for i in d.new] == ["d2"]
    assert [i.alert.finding.device_id for i in d.resolved] == ["d3"]
    assert [a.finding.device_id for a in d.oldest] == ["d1", "d2"]


def test_trend_counts_every_alert_that_fired_on_each_day() -> None:
    d = sample()
    by_day = dict(d.trend)
    assert len(d.trend) == 30
    assert d.trend[-1][0] == date(2026, 1, 31)
    assert by_day[date(2026, 1, 5)] == 0     # before anything fired
    assert by_day[date(2026, 1, 11)] == 1    # d1 only
    assert by_day[date(2026, 1, 21)] == 2    # d1 and d3
    assert by_day[date(2026, 1, 28)] == 2    # d3's last day (resolved at noon)
    assert by_day[date(2026, 1, 29)] == 2    # d1 and d2
    assert by_day[date(2026, 1, 31)] == 2


def test_days_are_calendar_days_in_the_digest_zone() -> None:
    # Fired 23:30 UTC on the 30th: the 31st in Paris only.
    a = firing("d1", "i1", datetime(2026, 1, 30, 23, 30, tzinfo=UTC))
    a = dataclasses.replace(a, state=AlertState.RESOLVED,
                            resolved_at=datetime(2026, 1, 31, 1, 0, tzinfo=UTC))
    intervals = firing_intervals([a], [])
    assert daily_firing(intervals, NOW, 2, ZoneInfo("UTC"))[0][1] == 1
    assert [n for _, n in daily_firing(intervals, NOW, 2, ZoneInfo("Europe/Paris"))] == [0, 1]


@pytest.mark.parametrize(
    ("count", "new", "resolved", "expected"),
    [
        (0, 0, 3, "All clear: nothing is firing (0 new, 3 resolved this week)."),
        (1, 1, 0, "1 alert firing on 1 device, worst warning; worse (1 new, 0 resolved "
                  "this week)."),
        (2, 0, 5, "2 alerts firing on 1 device, worst warning; better (0 new, 5 resolved "
                  "this week)."),
    ],
)
def test_verdict(count: int, new: int, resolved: int, expected: str) -> None:
    alerts = [firing("d1", f"i{n}", NOW) for n in range(count)]
    devices = 1 if count else 0
    assert verdict(alerts, devices, new, resolved, "this week") == expected


def test_html_escapes_device_names_and_places_the_chart() -> None:
    evil = firing("d9", "i1", NOW - DAY)
    evil = dataclasses.replace(evil, finding=dataclasses.replace(
        evil.finding, device_name="<script>alert(1)</script>"))
    d = summarize({evil.fingerprint: evil}, [], NOW, period=7 * DAY)
    html = digest_html(d, chart="<svg id='c'></svg>")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    assert "<svg id='c'></svg>" in html
    assert d.verdict in html


def test_csv_has_one_row_per_alert_and_defuses_formulas() -> None:
    d = sample()
    rows = list(csv.DictReader(io.StringIO(digest_csv(d))))
    assert [(r["status"], r["device_name"]) for r in rows] == [
        ("firing", "Mac d1"), ("firing", "Mac d2"), ("resolved", "Mac d3")]
    assert rows[2]["resolved_at"] == "2026-01-28 12:00 UTC"
    f = dataclasses.replace(finding("d1", "i1"), device_name="=HYPERLINK(\"x\")")
    a = Alert(f.fingerprint, AlertState.FIRING, f, NOW, NOW, firing_since=NOW)
    text = digest_csv(summarize({a.fingerprint: a}, [], NOW, period=DAY))
    assert "'=HYPERLINK" in text


def test_json_and_text_carry_the_same_numbers() -> None:
    d = sample()
    data = json.loads(digest_json(d))
    assert data["verdict"] == d.verdict
    assert data["by_rule"] == {"kandji.library-item.failed": 2}
    assert len(data["trend"]) == 30
    assert d.verdict in digest_text(d)


def test_chart_png_and_svg() -> None:
    trend = [(date(2026, 1, 1) + n * DAY, n % 5) for n in range(30)]
    png = trend_png(trend)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    svg = trend_svg(trend)
    assert svg.startswith("<svg")
    assert svg.count("<rect") == sum(1 for _, n in trend if n)
    assert "<script" not in svg


def test_html_links_each_oldest_failure_to_its_console_page() -> None:
    """The oldest failures open their devices in the MDM console; a source without a
    console URL leaves the name plain, and an id that is not URL-safe is encoded."""
    mine = firing("d1", "i1", NOW - 3 * DAY)
    odd = firing('d2"><b>x', "i1", NOW - 2 * DAY)
    d = summarize({a.fingerprint: a for a in (mine, odd)}, [], NOW, period=7 * DAY)
    links = ConsoleLinks({"acme": ("kandji", "https://acme.kandji.io")})
    html = digest_html(d, links=links)
    assert '<a href="https://acme.kandji.io/devices/d1">Mac d1</a>' in html
    assert '"><b>x' not in html
    assert "https://acme.kandji.io/devices/d2%22%3E%3Cb%3Ex" in html
    plain = digest_html(d, links=ConsoleLinks({"acme": ("kandji", None)}))
    assert "<a href" not in plain
    assert "<strong>Mac d1</strong>" in plain
