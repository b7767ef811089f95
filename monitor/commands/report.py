"""``compliance-monitor report``: the digest of a period, for auditors.

``report -c config.yaml --since 30d --format html|csv|json [--output FILE]`` reads the
store (read only: nothing is swept, sent or changed) and writes what a digest shows
for the period that ends now: the verdict, counts by rule, severity, source and
blueprint, the alerts new and resolved in the period, the oldest failures and the
trend of firing alerts per day. HTML is one self-contained page (the chart is an inline
SVG); CSV has one row per alert that fired in the period; JSON has everything.
``--digest NAME`` takes a configured digest's scope and time zone.

Exit codes: 0 written; 1 no store yet, or it could not be read; 2 a bad argument.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from markupsafe import Markup

from monitor.clock import Clock, SystemClock
from monitor.config import Config, parse_duration
from monitor.digest.chart import trend_svg
from monitor.digest.render import digest_csv, digest_html, digest_json
from monitor.digest.runner import build_digest, schedule_of, scope_filter
from monitor.errors import StoreError
from monitor.log import redact
from monitor.notify.routing import build_routes
from monitor.sources.links import ConsoleLinks
from monitor.store import open_store, store_exists, store_name

EXIT_OK = 0
EXIT_NO_STORE = 1
EXIT_USAGE = 2
#: The longest period a report covers (the store keeps 30 days of history).
MAX_SINCE = timedelta(days=366)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``report`` command's options (after ``-c``)."""
    p.add_argument("--since", default="30d", help="the period, ending now (default 30d)")
    p.add_argument("--format", choices=("html", "csv", "json"), default="html")
    p.add_argument("--output", "-o", type=Path, default=None, help="file (default: stdout)")
    p.add_argument("--digest", default=None, help="use a configured digest's scope and zone")


async def run(
    args: argparse.Namespace,
    config: Config,
    *,
    clock: Clock | None = None,
    out: TextIO | None = None,
) -> int:
    """Write the report; see the module docstring for exit codes."""
    err = sys.stderr
    try:
        since = parse_duration(args.since)
    except ValueError as exc:
        print(f"report: --since: {exc}", file=err)
        return EXIT_USAGE
    if since <= timedelta(0) or since > MAX_SINCE:
        print(f"report: --since must be between 1s and {MAX_SINCE.days}d", file=err)
        return EXIT_USAGE
    keep = None
    tz = ZoneInfo("UTC")
    title = "Compliance report"
    if args.digest is not None:
        digest = next((d for d in config.digests if d.name == args.digest), None)
        if digest is None:
            names = ", ".join(d.name for d in config.digests) or "none configured"
            print(f"report: no digest is named {args.digest!r} ({names})", file=err)
            return EXIT_USAGE
        keep = scope_filter(digest.scope, build_routes(config.route))
        tz = schedule_of(digest).tz
        title = f"Compliance report: {digest.name}"
    if not store_exists(config.store):
        print(f"report: no store at {store_name(config.store)} yet (has the monitor run?)",
              file=err)
        return EXIT_NO_STORE
    now = (clock or SystemClock()).now()
    try:
        async with open_store(config.store) as store:
            data = await build_digest(
                store, now, period=since, trend_days=max(2, min(since.days or 1, 366)),
                tz=tz, keep=keep, title=title,
            )
    except StoreError as exc:
        print(f"report: {redact(str(exc))}", file=err)
        return EXIT_NO_STORE
    if args.format == "csv":
        text = digest_csv(data)
    elif args.format == "json":
        text = digest_json(data)
    else:
        chart = Markup(trend_svg(data.trend))  # noqa: S704 (numbers and escaped dates only)
        text = digest_html(data, chart=chart, list_limit=1000,
                           links=ConsoleLinks.of(config.sources))
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
        print(f"report: wrote {args.output} ({args.format})", file=err)
    else:
        (out or sys.stdout).write(text)
    return EXIT_OK
