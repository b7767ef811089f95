"""A digest written out: HTML (e-mail and the auditors' report), text, CSV, JSON.

The HTML is one self-contained page with inline styles (mail clients drop style
sheets); where the trend chart goes is the caller's choice (``chart``: markup already
safe, e.g. the inline SVG of a report, or a line saying the PNG is attached). Every
value from alerts is escaped by Jinja2's autoescape. The CSV lists one row per alert
interval in the period (what auditors filter and pivot); the JSON has everything.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from monitor.digest.summary import Digest, Interval
from monitor.models import Alert
from monitor.sources.links import ConsoleLinks


def _stamp(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M UTC") if dt is not None else ""


def _age_days(alert: Alert, now: datetime) -> float:
    since = alert.firing_since or alert.active_since
    return round((now - since).total_seconds() / 86400, 1)


def _alert_row(alert: Alert, now: datetime) -> dict[str, Any]:
    f = alert.finding
    return {
        "rule_id": f.rule_id,
        "severity": f.severity.value,
        "source": f.source,
        "blueprint": f.labels.get("blueprint", ""),
        "device_name": f.device_name,
        "device_serial": f.device_serial,
        "item": f.subject_name,
        "item_status": f.subject_status,
        "summary": f.summary,
        "firing_since": _stamp(alert.firing_since or alert.active_since),
        "age_days": _age_days(alert, now),
    }


def _interval_row(interval: Interval, now: datetime) -> dict[str, Any]:
    row = _alert_row(interval.alert, now)
    row["firing_since"] = _stamp(interval.start)
    row["resolved_at"] = _stamp(interval.end)
    return row


_HTML = """\
<html><head><meta charset="utf-8"><title>{{ d.title }}</title></head>
<body style="font-family: sans-serif; color: #222; max-width: 760px">
<h2 style="margin-bottom: 4px">{{ d.title }}</h2>
<p style="color: #666; margin-top: 0">{{ since }} to {{ until }}</p>
<p style="font-size: 1.15em"><strong>{{ d.verdict }}</strong></p>
{{ chart }}
<h3>Firing now, by rule</h3>
{% if d.by_rule %}<table cellpadding="4" style="border-collapse: collapse">
<tr><th align="left">rule</th><th align="right">alerts</th></tr>
{% for name, n in d.by_rule %}<tr><td>{{ name }}</td><td align="right">{{ n }}</td></tr>
{% endfor %}</table>{% else %}<p>Nothing.</p>{% endif %}
<table cellpadding="4" style="border-collapse: collapse; margin-top: 12px"><tr>
{% for heading, rows in (("severity", d.by_severity), ("source", d.by_source),
                         ("blueprint", d.by_blueprint)) %}
<td valign="top" style="padding-right: 24px"><strong>By {{ heading }}</strong><br>
{% for name, n in rows %}{{ name }}: {{ n }}<br>{% else %}none{% endfor %}</td>
{% endfor %}</tr></table>
<h3>New in the period ({{ d.new|length }})</h3>
{{ list(new) }}
<h3>Resolved in the period ({{ d.resolved|length }})</h3>
{{ list(resolved) }}
<h3>Oldest failures</h3>
{% if oldest %}<ol>{% for a in oldest %}
<li><strong>{% if a.link %}<a href="{{ a.link }}">{{ a.device_name }}</a>
{%- else %}{{ a.device_name }}{% endif %}</strong>
({{ a.device_serial or "no serial" }}): {{ a.item }}
{% if a.item_status %}({{ a.item_status }}){% endif %}, {{ a.rule_id }}, failing for
{{ a.age_days }} days</li>{% endfor %}</ol>{% else %}<p>Nothing is failing.</p>{% endif %}
<p style="color: #888; font-size: 0.85em">Generated {{ generated }} by compliance-monitor.</p>
</body></html>
"""

_LIST = """\
{% if rows %}<ul>{% for r in rows[:limit] %}
<li>{{ r.device_name }}: {{ r.item }} ({{ r.rule_id }}, {{ r.severity }})</li>{% endfor %}
{% if rows|length > limit %}<li><em>...and {{ rows|length - limit }} more</em></li>{% endif %}
</ul>{% else %}<p>None.</p>{% endif %}"""

_ENV = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined,
                            trim_blocks=True, lstrip_blocks=True)
_PAGE = _ENV.from_string(_HTML)
_LIST_TEMPLATE = _ENV.from_string(_LIST)


def digest_html(
    d: Digest,
    *,
    chart: Markup | str = "",
    list_limit: int = 25,
    links: ConsoleLinks | None = None,
) -> str:
    """The digest as one HTML page; ``chart`` is trusted markup placed under the verdict.
    With ``links``, each of the oldest failures links its device's console page."""
    now = d.generated_at

    def oldest_row(a: Alert) -> dict[str, Any]:
        f = a.finding
        link = links.link(f.source, f.device_id) if links is not None and f.device_id else None
        return {**_alert_row(a, now), "link": link.url if link is not None else ""}

    def render_list(rows: list[dict[str, Any]]) -> Markup:
        return Markup(_LIST_TEMPLATE.render(rows=rows, limit=list_limit))  # noqa: S704

    return _PAGE.render(
        d=d,
        since=_stamp(d.since),
        until=_stamp(d.generated_at),
        generated=_stamp(now),
        chart=Markup(chart) if not isinstance(chart, Markup) else chart,  # noqa: S704
        new=[_interval_row(i, now) for i in d.new],
        resolved=[_interval_row(i, now) for i in d.resolved],
        oldest=[oldest_row(a) for a in d.oldest],
        list=render_list,
    )


def digest_text(d: Digest) -> str:
    """The digest as plain text (console receivers, chat)."""
    lines = [d.verdict, ""]
    if d.by_rule:
        lines.append("Firing by rule: " + ", ".join(f"{k} {v}" for k, v in d.by_rule))
        lines.append("By severity: " + ", ".join(f"{k} {v}" for k, v in d.by_severity))
        lines.append("By source: " + ", ".join(f"{k} {v}" for k, v in d.by_source))
        lines.append("By blueprint: " + ", ".join(f"{k} {v}" for k, v in d.by_blueprint))
    lines.append(f"New: {len(d.new)}; resolved: {len(d.resolved)}")
    if d.oldest:
        lines.append("Oldest failures:")
        for a in d.oldest:
            f = a.finding
            lines.append(f"- {f.device_name}: {f.subject_name} ({f.rule_id}), "
                         f"{_age_days(a, d.generated_at)} days")
    peak = max((n for _, n in d.trend), default=0)
    lines.append(f"Firing per day, last {len(d.trend)} days: peak {peak}, "
                 f"today {d.trend[-1][1] if d.trend else 0}")
    return "\n".join(lines)


CSV_COLUMNS = (
    "status", "rule_id", "severity", "source", "blueprint", "device_name", "device_serial",
    "item", "item_status", "firing_since", "resolved_at", "age_days", "summary",
)


def _csv_cell(value: object) -> str:
    """A cell a spreadsheet will not run as a formula."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def digest_csv(d: Digest) -> str:
    """One row per alert that fired in the period: firing now, or resolved in it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    now = d.generated_at
    rows: list[tuple[str, dict[str, Any]]] = [
        ("firing", {**_alert_row(a, now), "resolved_at": ""}) for a in d.firing
    ]
    rows += [("resolved", _interval_row(i, now)) for i in d.resolved]
    for status, row in rows:
        writer.writerow([_csv_cell(status if c == "status" else row.get(c, ""))
                         for c in CSV_COLUMNS])
    return out.getvalue()


def digest_json(d: Digest) -> str:
    """Everything, as JSON."""
    now = d.generated_at
    data = {
        "title": d.title,
        "generated_at": d.generated_at.isoformat(),
        "since": d.since.isoformat(),
        "timezone": d.timezone,
        "verdict": d.verdict,
        "firing": len(d.firing),
        "devices": d.devices,
        "by_rule": dict(d.by_rule),
        "by_severity": dict(d.by_severity),
        "by_source": dict(d.by_source),
        "by_blueprint": dict(d.by_blueprint),
        "new": [_interval_row(i, now) for i in d.new],
        "resolved": [_interval_row(i, now) for i in d.resolved],
        "oldest": [_alert_row(a, now) for a in d.oldest],
        "trend": [{"day": day.isoformat(), "firing": n} for day, n in d.trend],
    }
    return json.dumps(data, indent=2, ensure_ascii=False)
