"""Server-side rendering of the status page (Jinja2, autoescaped, no JavaScript).

Every value printed by the template passes through :func:`monitor.log.redact`, so a
registered secret that slipped into an error message is never shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import jinja2
from markupsafe import Markup

from monitor.clock import format_age
from monitor.digest.chart import trend_svg
from monitor.log import redact
from monitor.web.view import (
    AlertView,
    DeadLetterView,
    SilenceView,
    SourceView,
    group_firing,
    pending_alerts,
    resolved_alerts,
    silenced_alerts,
    summarize,
)


def _finalize(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    return value


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("monitor.web", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    finalize=_finalize,
    trim_blocks=True,
    lstrip_blocks=True,
)


def format_timestamp(dt: datetime | None) -> str:
    """``2026-01-05 09:00:12 UTC``; an em dash for None."""
    if dt is None:
        return "—"
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(seconds: float | None) -> str:
    """A short human duration: ``850ms``, ``4.2s``, ``3m 05s``, ``2h 10m``, ``3d 4h``."""
    if seconds is None:
        return "—"
    s = max(0.0, seconds)
    if s < 1:
        return f"{s * 1000:.0f}ms"
    if s < 60:
        return f"{s:.1f}s"
    whole = int(s)
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d {whole % 86400 // 3600}h"


def format_relative(dt: datetime | None, now: datetime) -> str:
    """``5m ago`` or ``in 2h``; ``never`` for None."""
    if dt is None:
        return "never"
    delta = (now - dt).total_seconds()
    if abs(delta) < 1:
        return "just now"
    if delta > 0:
        return f"{format_age(delta)} ago"
    return f"in {format_age(-delta)}"


def is_http_url(value: object) -> bool:
    """True for an http(s) URL: anything else (``javascript:``, ``data:``) is never a link."""
    return isinstance(value, str) and value.lower().startswith(("https://", "http://"))


_ENV.filters["ts"] = format_timestamp
_ENV.filters["duration"] = format_duration
_ENV.tests["http_url"] = is_http_url


@dataclass(frozen=True, slots=True)
class PageOptions:
    """Presentation settings of the status page."""

    title: str = "Compliance monitor"
    refresh_seconds: int = 30
    resolved_limit: int = 50
    sweeps_shown: int = 8
    # A group larger than this starts folded, so one broad failure does not bury the rest.
    group_open_limit: int = 100


#: The longest text filter the page takes (longer input is cut).
QUERY_MAX_CHARS = 200


def alert_matches(alert: AlertView, words: Sequence[str]) -> bool:
    """Whether every word occurs (case-insensitively) in the alert's device name, serial,
    device id, rule id or item name: a substring search, nothing a query can blow up."""
    a = alert
    haystack = " ".join(
        (a.device_name, a.device_serial, a.device_id, a.rule_id, a.subject_name)
    ).casefold()
    return all(word in haystack for word in words)


def filter_words(query: str) -> list[str]:
    """The words of a filter query, bounded."""
    return query[:QUERY_MAX_CHARS].casefold().split()[:10]


def render_status_page(
    *,
    alerts: Sequence[AlertView],
    sources: Sequence[SourceView],
    silences: Sequence[SilenceView],
    ready: tuple[bool, list[str]],
    now: datetime,
    options: PageOptions = PageOptions(),
    dead_letters: Sequence[DeadLetterView] = (),
    trend: Sequence[tuple[date, int]] = (),
    query: str = "",
) -> str:
    """The whole status page as HTML; ``query`` filters the alerts shown (device name,
    serial, rule, item), ``trend`` is drawn as an inline SVG."""
    query = query[:QUERY_MAX_CHARS].strip()
    words = filter_words(query)
    total = len(alerts)
    if words:
        alerts = [a for a in alerts if alert_matches(a, words)]
    resolved = resolved_alerts(alerts)
    template = _ENV.get_template("status.html.j2")
    return template.render(
        opts=options,
        now=now,
        ago=lambda dt: format_relative(dt, now),
        summary=summarize(alerts, sources, silences, dead_letters),
        dead_letters=sorted(dead_letters, key=lambda d: (d.failed_at, d.id), reverse=True),
        groups=group_firing(alerts),
        pending=pending_alerts(alerts),
        silenced=silenced_alerts(alerts),
        resolved=resolved[: options.resolved_limit],
        resolved_total=len(resolved),
        sources=sorted(sources, key=lambda s: (s.healthy, s.name)),
        silences=sorted(silences, key=lambda s: (not s.active, s.ends_at or now, s.id)),
        ready=ready[0],
        ready_reasons=ready[1],
        query=query,
        shown=len(alerts),
        total=total,
        trend_svg=Markup(trend_svg(trend)) if trend else "",  # noqa: S704 (numbers, dates)
        trend_peak=max((n for _, n in trend), default=0),
        trend_today=trend[-1][1] if trend else 0,
    )


def render_error_page(title: str, message: str) -> str:
    """A minimal page for when the status cannot be read."""
    return _ENV.get_template("error.html.j2").render(title=title, message=message)
