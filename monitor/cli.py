"""The command line: the only place that reads argv and installs signal handlers.

Exit codes (for cron jobs, systemd and Docker):
    0   ok (``once``: nothing is firing and every message was delivered)
    1   ``once``: something is firing, or a delivery failed; ``test-notify``: sending failed
    2   the config or a rule file is invalid (every problem is printed, one a line)
    3   ``once``: a source could not be swept
    4   could not start: the web port is taken, the store cannot be opened or written,
        a token file is missing, unreadable or malformed
    130 interrupted twice (cancelled at once)

An expected failure prints one line naming what failed and where, never a traceback.
Commands that only read or write local state (``status``, ``silence``, ``outbox``,
``actions list``) do not need the MDM tokens: an unset variable does not stop them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sqlite3
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TextIO

import structlog

from monitor.config import Config, load_config
from monitor.errors import (
    ConfigError,
    ConfigErrors,
    MonitorError,
    StartError,
    StoreError,
    TokenFileError,
)
from monitor.log import configure_logging, redact
from monitor.sources import registry

EXIT_OK = 0
EXIT_FIRING = 1
EXIT_CONFIG = 2
EXIT_SOURCE = 3
EXIT_START = 4
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """\
exit codes:
  0    ok (once: nothing firing, every message delivered)
  1    once: something is firing or a delivery failed; test-notify: sending failed
  2    the config or a rule file is invalid (every problem printed, one a line)
  3    once: a source could not be swept
  4    could not start: web port taken, store unusable, token file missing or malformed
  130  interrupted twice
"""

LOCAL_STATE_COMMANDS = frozenset({"status", "silence", "outbox", "actions"})
"""Commands that only read or write local state: they run without the MDM tokens."""

log = structlog.get_logger(__name__)


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", required=True, type=Path, help="path to the YAML config")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``compliance-monitor``."""
    parser = argparse.ArgumentParser(
        prog="compliance-monitor",
        description="Alerts when a device in an MDM-managed fleet stops being compliant.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run the daemon")
    _add_config(p)

    p = sub.add_parser(
        "once",
        help="sweep every source once, deliver, exit "
        "(0 ok, 1 firing or undelivered, 3 source failed, 4 could not start)",
    )
    _add_config(p)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="render what would be sent; send nothing, change nothing",
    )

    p = sub.add_parser(
        "validate", help="check the config and the rule files, print every mistake (0 valid, 2 not)"
    )
    _add_config(p)

    p = sub.add_parser("demo", help="simulated tenant + daemon + console alerts in one process")
    p.add_argument("--duration", type=float, default=None, help="stop by itself after SECONDS")
    p.add_argument("--port", type=int, default=8080, help="status page port (0 picks a free one)")
    p.add_argument("--devices", type=int, default=40, help="simulated fleet size")
    p.add_argument("--seed", type=int, default=7, help="simulated fleet seed")
    p.add_argument(
        "--state-dir", type=Path, default=None, help="keep the database here (default: temporary)"
    )

    p = sub.add_parser("simulate", help="serve a simulated MDM API")
    p.add_argument("vendor", choices=registry.kinds(), metavar="KIND", help="the source kind")
    p.add_argument("--devices", type=int, default=200)
    p.add_argument("--port", type=int, default=8081)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--token", default="sim-token", help="the bearer token the simulator accepts")
    p.add_argument("--organization", default="acme", help="organization slug (kinds that have one)")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--per-second", type=int, default=50, help="rate limit per second (429 beyond)")
    p.add_argument("--per-hour", type=int, default=10000, help="rate limit per hour, 0 for none")
    p.add_argument(
        "--rival-rate",
        type=float,
        default=0.0,
        metavar="N",
        help="requests per hour the tenant's other integrations spend of its budget (Kandji)",
    )
    p.add_argument(
        "--evolve-every", type=float, default=0.0, help="seconds between fleet changes, 0 for none"
    )
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND[:PROBABILITY[:PATH_REGEX]]",
        help="inject a fault (429, 500, 502, 503, slow, timeout, reset, malformed, html, ...)",
    )

    p = sub.add_parser("test-notify", help="send a sample message to one receiver")
    _add_config(p)
    p.add_argument("receiver", help="the receiver's name in the config")

    p = sub.add_parser("silence", help="add, list or expire silences (no restart needed)")
    ssub = p.add_subparsers(dest="silence_command", required=True, metavar="ACTION")
    sp = ssub.add_parser("add", help="mute alerts matching every matcher")
    _add_config(sp)
    sp.add_argument(
        "matchers",
        nargs="+",
        metavar="LABEL=VALUE",
        help="label matchers: name=value, name!=value, name=~regex, name!~regex",
    )
    sp.add_argument("--duration", default="2h", help="how long (e.g. 2h, 1d); default 2h")
    sp.add_argument("--starts", default=None, help="start (ISO 8601); default now")
    sp.add_argument("--ends", default=None, help="end (ISO 8601); overrides --duration")
    sp.add_argument("--comment", required=True, help="why (shown on the status page)")
    sp.add_argument("--author", default=None, help="who (default: the current user)")
    sp = ssub.add_parser("list", help="list silences")
    _add_config(sp)
    sp.add_argument("--all", action="store_true", help="include expired silences")
    sp.add_argument("--json", action="store_true")
    sp = ssub.add_parser("expire", help="end a silence now")
    _add_config(sp)
    sp.add_argument("id", help="the silence id (from silence list)")

    p = sub.add_parser("status", help="what is firing, as a table")
    _add_config(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--all", action="store_true", help="include pending, silenced and resolved")

    p = sub.add_parser("report", help="the digest of a period for auditors (html, csv, json)")
    _add_config(p)
    from monitor.commands.report import add_arguments as report_arguments

    report_arguments(p)

    p = sub.add_parser("explain", help="one device: its facts, every rule's verdict, its history")
    _add_config(p)
    p.add_argument("device", help="device id, serial number or name")
    p.add_argument("--source", default=None, help="the source to look in (default: all)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("actions", help="remediation actions: the audit trail")
    asub = p.add_subparsers(dest="actions_command", required=True, metavar="ACTION")
    ap = asub.add_parser("list", help="list recorded action attempts")
    _add_config(ap)
    ap.add_argument("--device", default=None)
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    p = sub.add_parser("outbox", help="undelivered notifications: list them, requeue dead letters")
    osub = p.add_subparsers(dest="outbox_command", required=True, metavar="ACTION")
    op = osub.add_parser("list", help="dead letters and pending messages")
    _add_config(op)
    op.add_argument("--json", action="store_true")
    op = osub.add_parser("retry", help="requeue a dead letter (or every one) for delivery")
    _add_config(op)
    which = op.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "id", type=int, nargs="?", default=None, help="the message id (from outbox list)"
    )
    which.add_argument("--all-dead", action="store_true", help="requeue every dead letter")

    p = sub.add_parser(
        "migrate-store",
        help="copy an existing store (e.g. the SQLite file) into the config's store "
        "(e.g. PostgreSQL); exit 0 copied, 1 failed",
    )
    _add_config(p)
    p.add_argument("--from", dest="source", required=True, metavar="URL",
                   help="the store to copy: sqlite:///path/to/monitor.db or a file path")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except TokenFileError as exc:
        return _fail(EXIT_START, "could not start", exc)
    except ConfigError as exc:
        return _fail(EXIT_CONFIG, "config error", exc)
    except (StartError, StoreError) as exc:
        return _fail(EXIT_START, "could not start", exc)
    except (OSError, sqlite3.Error) as exc:
        # A state folder or database the process cannot use (read-only, locked, corrupt).
        return _fail(EXIT_START, "could not start", exc)


def _fail(code: int, what: str, exc: BaseException) -> int:
    """Print one line for an expected failure (no traceback, secrets redacted)."""
    reason = str(exc) if isinstance(exc, MonitorError) else _describe(exc)
    print(f"{what}: {redact(reason)}", file=sys.stderr)
    return code


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc.__class__.__name__}"
    return f"{exc.__class__.__name__}: {exc}"


def _dispatch(args: argparse.Namespace) -> int:
    cmd = args.command
    if cmd == "validate":
        return _validate(args.config)
    if cmd == "simulate":
        configure_logging()
        from monitor.commands import simulate

        return _run_async(lambda stop: simulate.run(args, stop))
    if cmd == "demo":
        configure_logging(fmt="console" if sys.stderr.isatty() else "json")
        return _run_async(lambda stop: _demo(args, stop))
    config = load_config(args.config, secrets=cmd not in LOCAL_STATE_COMMANDS)
    # Validate the rules before anything starts, so a broken rule file exits 2 too.
    _load_rules(config)
    configure_logging(config.log.level, config.log.format)
    if cmd in ("run", "once", "test-notify"):
        _check_receivers(config, args.config)
    if cmd == "run":
        return _run_async(lambda stop: _run(config, stop))
    if cmd == "once":
        return _run_async(lambda stop: _once(config, dry_run=args.dry_run))
    if cmd == "test-notify":
        return asyncio.run(_test_notify(config, args.receiver))
    if cmd == "silence":
        from monitor.commands import silence

        return asyncio.run(silence.run(args, config))
    if cmd in ("status", "explain"):
        from monitor.commands import inspect

        return asyncio.run(inspect.run(args, config))
    if cmd == "actions":
        from monitor.commands import actions

        return asyncio.run(actions.run(args, config))
    if cmd == "outbox":
        from monitor.commands import outbox

        return asyncio.run(outbox.run(args, config))
    if cmd == "report":
        from monitor.commands import report

        return asyncio.run(report.run(args, config))
    if cmd == "migrate-store":
        from monitor.commands import migrate_store

        return asyncio.run(migrate_store.run(args, config))
    raise AssertionError(cmd)


def _load_rules(config: Config) -> int:
    """Load the rule files (ConfigError when invalid) and check the rules' actions."""
    from monitor.actions import check_actions
    from monitor.engine import load_rules

    rules = load_rules(
        config.rules.files, builtin=config.rules.builtin, disabled=config.rules.disabled
    )
    problems = check_actions(config.actions, rules.rules)
    if problems:
        raise ConfigError(str(rules.files[0]) if rules.files else "rules", "actions", problems[0])
    from monitor.commands.validate import config_silence_problems

    silence_problems = config_silence_problems(config, rules.rules)
    if silence_problems:
        raise silence_problems[0]
    return len(rules.rules)


def _validate(path: Path, out: TextIO | None = None) -> int:
    from monitor.commands import validate

    return validate.run(path, out or sys.stdout, sys.stderr)


def _run_async(make: Callable[[asyncio.Event], Awaitable[int]]) -> int:
    """Run a coroutine with SIGTERM/SIGINT handling: first signal stops, second cancels."""

    async def runner() -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        task = asyncio.current_task()
        signals_seen = 0

        def on_signal() -> None:
            nonlocal signals_seen
            signals_seen += 1
            if signals_seen == 1:
                log.info("stopping", hint="signal again to exit at once")
                stop.set()
            elif task is not None:
                task.cancel()

        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, on_signal)
        try:
            return await make(stop)
        except asyncio.CancelledError:
            return EXIT_INTERRUPTED

    return asyncio.run(runner())


def _check_receivers(config: Config, path: Path) -> None:
    """Every apprise URL must parse: one that cannot would fail every delivery (exit 2)."""
    from monitor.notify.sender import AppriseSender

    sender = AppriseSender()
    problems = []
    for receiver in config.receivers:
        for j, url in enumerate(receiver.urls):
            reason = sender.check_url(url.get_secret_value())
            if reason:
                problems.append(
                    ConfigError(str(path), f"receivers.{receiver.name}.urls.{j}", reason)
                )
    if problems:
        raise problems[0] if len(problems) == 1 else ConfigErrors(problems)


def _preflight(config: Config) -> None:
    """What a start needs, checked in seconds: every token file, and the store.

    Raises TokenFileError or StoreError (exit 4) with one line saying what and where.
    """
    from monitor.store.preflight import check_sqlite

    for source in config.sources:
        if source.enabled:
            source.resolve_token()
    file = config.store.sqlite_file()
    if file is not None:  # PostgreSQL answers for itself when the store is opened
        check_sqlite(file)


async def _run(config: Config, stop: asyncio.Event) -> int:
    from monitor.app import App

    _preflight(config)

    async with App(config) as app:
        waiter = asyncio.create_task(stop.wait())
        runner = asyncio.create_task(app.run())
        await asyncio.wait({waiter, runner}, return_when=asyncio.FIRST_COMPLETED)
        app.stop()
        await runner
        waiter.cancel()
    return EXIT_OK


async def _once(config: Config, *, dry_run: bool) -> int:
    from monitor.app import App
    from monitor.commands.progress import TerminalProgress

    _preflight(config)
    undelivered = 0
    progress = TerminalProgress.for_stream(sys.stderr)
    if progress is not None:
        # Log lines are lifted above the bar rather than written through it.
        configure_logging(config.log.level, config.log.format, stream=progress.log_stream())
    try:
        async with App(config, web_enabled=False, progress=progress) as app:
            if dry_run:
                results, firing, messages = await app.preview_once()
                for msg in messages:
                    to = f" <{msg.to}>" if msg.to else ""
                    print(f"--- to {msg.receiver}{to} ({msg.reason}) ---\n"
                          f"{msg.title}\n\n{msg.body}\n")
            else:
                results, firing = await app.run_once()
                undelivered = app.delivery_totals.failed
    finally:
        if progress is not None:
            progress.close()
    if undelivered:
        print(
            f"{undelivered} message(s) could not be delivered (outbox list says why)",
            file=sys.stderr,
        )
    if any(not r.ok for r in results):
        return EXIT_SOURCE
    return EXIT_FIRING if firing or undelivered else EXIT_OK


async def _test_notify(config: Config, receiver: str) -> int:
    from monitor.app import App

    try:
        config.receiver(receiver)
    except KeyError:
        names = ", ".join(r.name for r in config.receivers)
        print(f"no receiver is named {receiver!r} (receivers: {names})", file=sys.stderr)
        return EXIT_CONFIG
    async with App(config, web_enabled=False) as app:
        try:
            msg = await app.test_notify(receiver)
        except MonitorError as exc:
            print(f"sending to {receiver} failed: {redact(str(exc))}", file=sys.stderr)
            return EXIT_FIRING
    print(f"sent a sample message to {receiver}: {msg.title}")
    return EXIT_OK


async def _demo(args: argparse.Namespace, stop: asyncio.Event) -> int:
    from monitor.demo import run_demo

    with tempfile.TemporaryDirectory(prefix="compliance-monitor-demo-") as tmp:
        state = args.state_dir or Path(tmp)
        try:
            await run_demo(
                state_dir=state,
                devices=args.devices,
                seed=args.seed,
                web_port=args.port,
                duration=args.duration,
                stop=stop,
            )
        except (ConfigError, StartError, StoreError):
            raise  # main() gives each its exit code and one line
        except MonitorError as exc:
            print(f"demo failed: {redact(str(exc))}", file=sys.stderr)
            return EXIT_SOURCE
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
