"""``compliance-monitor silence add|list|expire``: mute alerts for a while, no restart needed.

Silences are stored in the daemon's database. A running daemon reads them at every
evaluation of its groups, so a new silence mutes matching alerts at the next
evaluation, and an expired one lets whatever still fires be announced at the next
evaluation (within one ``group_interval``).

Matchers::

    name=value     the label equals value
    name!=value    the label differs from value
    name=~regex    the label fully matches regex
    name!~regex    the label does not fully match regex

A missing label is the empty string. A value may be quoted (``device_name="Mac 12"``).
At least one matcher must need a non-empty label, so that a typo cannot mute everything.

Output: ``add`` prints the new id alone on stdout (``ID=$(compliance-monitor silence add
...)``) and a summary on stderr; ``list`` prints a table (cut to the terminal's width
only on a terminal) or, with ``--json``, a JSON array; messages go to stderr.

Exit codes: 0 done; 1 no such silence (or it cannot be expired here); 2 bad input (a
matcher, a regex, a duration or a timestamp).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import re
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TextIO

from monitor.clock import Clock, SystemClock, utc
from monitor.commands.inspect.terminal import CommandIo
from monitor.config import Config, RecurringWindow, parse_duration
from monitor.errors import ConfigError, StoreError
from monitor.log import redact
from monitor.models import AlertState
from monitor.notify.labels import STANDARD_LABELS, alert_labels
from monitor.notify.silences import (
    DAY_NAMES,
    Silence,
    from_config,
    matcher_matches,
    matcher_problem,
)
from monitor.patterns import pattern_problem
from monitor.store import Matcher, SilenceDraft, SilenceRecord, open_store, store_exists
from monitor.store.base import MatchOp

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*(!=|=~|!~|=)(.*)$", re.DOTALL)
_PLAIN_VALUE = re.compile(r"^[^\s\"',]*$")


class InputError(ValueError):
    """A command-line value the command cannot use; the message says why."""


# --------------------------------------------------------------------- parsing


def parse_matcher(text: str) -> Matcher:
    """``name=value``, ``name!=value``, ``name=~regex`` or ``name!~regex`` as a Matcher.

    Raises InputError for anything else and for a regex that does not compile.
    """
    m = _MATCHER.match(text)
    if m is None:
        raise InputError(
            f"bad matcher {text!r}: expected name=value, name!=value, name=~regex or name!~regex"
        )
    name, op, raw = m.group(1), m.group(2), m.group(3).strip()
    value = _unquote(raw)
    if op in ("=~", "!~"):
        problem = pattern_problem(value)
        if problem:
            raise InputError(f"bad matcher {text!r}: {problem}")
    return Matcher(name=name, op=_op(op), value=value)


def _op(text: str) -> MatchOp:
    ops: dict[str, MatchOp] = {"=": "=", "!=": "!=", "=~": "=~", "!~": "!~"}
    return ops[text]


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            return raw[1:-1]
        return value if isinstance(value, str) else raw[1:-1]
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1]
    return raw


def parse_matchers(texts: Iterable[str]) -> tuple[Matcher, ...]:
    """Every matcher of ``texts``; at least one must need a non-empty label."""
    matchers = tuple(parse_matcher(t) for t in texts)
    if not matchers:
        raise InputError("give at least one matcher, e.g. device_name=\"Mac 12\"")
    if all(matcher_matches(m, {}) for m in matchers):
        raise InputError(
            "these matchers also match alerts that do not have the labels, so they would "
            "mute nearly everything; add one that needs a value (e.g. source=acme)"
        )
    return matchers


def parse_when(text: str, what: str) -> datetime:
    """An ISO 8601 timestamp (without an offset: UTC) as an aware UTC datetime."""
    try:
        return utc(datetime.fromisoformat(text.strip()))
    except ValueError:
        raise InputError(
            f"{what}: expected an ISO 8601 timestamp such as 2026-01-05T22:00+01:00, got {text!r}"
        ) from None


def silence_span(
    now: datetime, *, duration: str, starts: str | None, ends: str | None
) -> tuple[datetime, datetime]:
    """The (start, end) of a new silence from the command-line options."""
    starts_at = parse_when(starts, "--starts") if starts else now
    if ends:
        ends_at = parse_when(ends, "--ends")
    else:
        try:
            length = parse_duration(duration)
        except ValueError as exc:
            raise InputError(f"--duration: {exc}") from None
        if length <= timedelta(0):
            raise InputError("--duration: a silence must last longer than zero")
        ends_at = starts_at + length
    if ends_at <= starts_at:
        raise InputError(
            f"the silence would end ({_when(ends_at)}) before it starts ({_when(starts_at)})"
        )
    if ends_at <= now:
        raise InputError(f"the silence would already be over (it ends {_when(ends_at)})")
    return starts_at, ends_at


# --------------------------------------------------------------------- text


def matcher_text(matcher: Matcher) -> str:
    """A matcher as it is typed on the command line (quoted only when needed)."""
    value = matcher.value
    shown = value if value and _PLAIN_VALUE.match(value) else json.dumps(value, ensure_ascii=False)
    return f"{matcher.name}{matcher.op}{shown}"


def matchers_line(matchers: Iterable[Matcher]) -> str:
    """Matchers separated by spaces, in the order given."""
    return " ".join(matcher_text(m) for m in matchers)


def _when(value: datetime) -> str:
    return utc(value).strftime("%Y-%m-%d %H:%MZ")


def _span(delta: timedelta) -> str:
    """A short human duration: 45s, 12m, 1h59m, 3d2h."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def _window_text(window: RecurringWindow) -> str:
    days = window.days
    day_text = "daily" if list(days) == list(DAY_NAMES) else ",".join(days)
    return f"{day_text} {window.start}-{window.end} {window.timezone}"


# --------------------------------------------------------------------- listing


@dataclass(frozen=True, slots=True)
class SilenceRow:
    """One silence as ``silence list`` shows it, whatever its origin."""

    id: str
    origin: str  # store | config
    state: str  # active | pending | scheduled | expired
    matchers: tuple[Matcher, ...]
    starts_at: datetime | None
    ends_at: datetime | None
    every: RecurringWindow | None
    comment: str
    author: str
    created_at: datetime | None = None

    def until_text(self, now: datetime) -> str:
        """When it ends (or ended), relative to now; or its recurring window."""
        if self.every is not None:
            window = _window_text(self.every)
            if self.ends_at is not None:
                return f"{window} until {_when(self.ends_at)}"
            return window
        if self.ends_at is None:
            return "never"
        if self.state == "expired":
            return f"{_when(self.ends_at)} ({_span(now - self.ends_at)} ago)"
        return f"{_when(self.ends_at)} (in {_span(self.ends_at - now)})"

    def to_json(self) -> dict[str, Any]:
        """The row as plain JSON data."""
        return {
            "id": self.id,
            "origin": self.origin,
            "state": self.state,
            "matchers": [{"name": m.name, "op": m.op, "value": m.value} for m in self.matchers],
            "matchers_text": matchers_line(self.matchers),
            "starts_at": None if self.starts_at is None else utc(self.starts_at).isoformat(),
            "ends_at": None if self.ends_at is None else utc(self.ends_at).isoformat(),
            "every": None if self.every is None else self.every.model_dump(),
            "comment": self.comment,
            "author": self.author,
            "created_at": None if self.created_at is None else utc(self.created_at).isoformat(),
        }


def _state(silence: Silence, now: datetime) -> str:
    if silence.ends_at is not None and now >= silence.ends_at:
        return "expired"
    if silence.starts_at is not None and now < silence.starts_at:
        return "pending"
    if silence.active(now):
        return "active"
    return "scheduled"  # a recurring window, outside its hours


def stored_row(record: SilenceRecord, now: datetime) -> SilenceRow:
    """The row of a silence stored at run time."""
    sil = Silence(id=str(record.id), matchers=record.matchers,
                  starts_at=record.starts_at, ends_at=record.ends_at)
    return SilenceRow(
        id=str(record.id), origin="store", state=_state(sil, now), matchers=record.matchers,
        starts_at=record.starts_at, ends_at=record.ends_at, every=None,
        comment=record.comment, author=record.author, created_at=record.created_at,
    )


def config_rows(config: Config, now: datetime) -> list[SilenceRow]:
    """The rows of the config's silences (ids ``config:N``)."""
    rows = []
    for index, entry in enumerate(config.silences):
        sil = from_config(entry, index)
        rows.append(
            SilenceRow(
                id=sil.id, origin="config", state=_state(sil, now), matchers=sil.matchers,
                starts_at=sil.starts_at, ends_at=sil.ends_at, every=sil.every,
                comment=sil.comment, author=sil.author,
            )
        )
    return rows


def table(rows: Sequence[SilenceRow], now: datetime, width: int | None) -> str:
    """Rows as an aligned table; with ``width``, the comment column is cut to fit."""
    header = ("ID", "STATE", "UNTIL", "MATCHERS", "AUTHOR", "COMMENT")
    cells = [
        (r.id, r.state, r.until_text(now), matchers_line(r.matchers), r.author,
         " ".join(r.comment.split()))
        for r in rows
    ]
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *cells]:
        head = "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True))
        line = f"{head}  {row[-1]}".rstrip()
        if width is not None and len(line) > width:
            line = line[: max(width - 1, len(head) + 3)] + "\u2026"
        lines.append(line)
    return "\n".join(lines)


# --------------------------------------------------------------------- the command


async def run(
    args: argparse.Namespace, config: Config, *, clock: Clock | None = None,
    out: TextIO | None = None, err: TextIO | None = None,
) -> int:
    """Run ``silence add|list|expire``; the exit code (see the module docstring)."""
    io = CommandIo.of(out, err)
    now = (clock or SystemClock()).now()
    action = args.silence_command
    try:
        if action == "add":
            return await _add(args, config, now, io)
        if action == "list":
            return await _list(args, config, now, io)
        if action == "expire":
            return await _expire(args, config, now, io)
    except InputError as exc:
        io.say(f"error: {exc}")
        return EXIT_USAGE
    except StoreError as exc:
        io.say(f"error: {redact(str(exc))}")
        return EXIT_NOT_FOUND
    except BrokenPipeError:
        # The reader went away (``silence list | head -1``): not an error.
        _silence_stdout(io.out)
        return EXIT_OK
    raise AssertionError(action)


def _silence_stdout(stream: TextIO) -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    if stream is not sys.stdout:
        return
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _author(given: str | None) -> str:
    if given:
        return given
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _known_labels(config: Config) -> frozenset[str]:
    from monitor.engine import load_rules

    names = set(STANDARD_LABELS)
    try:
        rules = load_rules(
            config.rules.files, builtin=config.rules.builtin, disabled=config.rules.disabled
        )
    except ConfigError:
        return frozenset(names)
    for rule in rules.rules:
        names.update(rule.labels)
    return frozenset(names)


async def _add(args: argparse.Namespace, config: Config, now: datetime, io: CommandIo) -> int:
    matchers = parse_matchers(args.matchers)
    starts_at, ends_at = silence_span(
        now, duration=args.duration, starts=args.starts, ends=args.ends
    )
    comment = " ".join(str(args.comment).split())
    if not comment:
        raise InputError("--comment: say why (it is shown with the silence)")
    known = _known_labels(config)
    for m in matchers:
        problem = matcher_problem(m.name, m.op, m.value, known)
        if problem:
            # A typo would make a silence that mutes nothing (or, with !=, everything).
            raise InputError(f"bad matcher {matchers_line((m,))}: {problem}")
    author = _author(args.author)
    async with open_store(config.store) as store:
        record = await store.add_silence(
            SilenceDraft(matchers, starts_at, ends_at, comment, author, created_at=now)
        )
        alerts = await store.load_alerts()
    probe = Silence(id=str(record.id), matchers=matchers)
    matching = [a for a in alerts.values() if probe.matches(alert_labels(a))]
    firing = sum(1 for a in matching if a.state is AlertState.FIRING)
    print(record.id, file=io.out)
    io.out.flush()
    starts_text = "now" if starts_at == now else _when(starts_at)
    io.say(
        f"silence {record.id} added: {matchers_line(matchers)} from {starts_text} until "
        f"{_when(ends_at)} ({_span(ends_at - starts_at)}); {len(matching)} alert(s) match now, "
        f"{firing} firing"
    )
    return EXIT_OK


async def _stored(config: Config, now: datetime, *, include_expired: bool) -> list[SilenceRecord]:
    if not store_exists(config.store):
        return []  # nothing stored yet; do not create the database just to list it
    async with open_store(config.store) as store:
        return await store.silences(now, include_expired=include_expired)


async def _list(args: argparse.Namespace, config: Config, now: datetime, io: CommandIo) -> int:
    rows = [
        *config_rows(config, now),
        *(stored_row(r, now) for r in await _stored(config, now, include_expired=args.all)),
    ]
    if not args.all:
        rows = [r for r in rows if r.state != "expired"]
    if args.json:
        json.dump([r.to_json() for r in rows], io.out, indent=2, ensure_ascii=False)
        io.out.write("\n")
        io.out.flush()
        return EXIT_OK
    if not rows:
        io.say("no silences" if args.all
               else "no active or pending silences (--all shows ended ones)")
        return EXIT_OK
    width = shutil.get_terminal_size().columns if _is_tty(io.out) else None
    print(table(rows, now, width), file=io.out)
    io.out.flush()
    return EXIT_OK


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


async def _expire(args: argparse.Namespace, config: Config, now: datetime, io: CommandIo) -> int:
    text = str(args.id).strip()
    if text.startswith("config:"):
        io.say(f"error: silence {text} comes from the config file; remove it there and "
               "restart the daemon")
        return EXIT_NOT_FOUND
    try:
        silence_id = int(text)
    except ValueError:
        raise InputError(f"{text!r} is not a silence id (see: silence list)") from None
    if not store_exists(config.store):
        io.say(f"error: no silence has id {silence_id} (nothing is stored yet)")
        return EXIT_NOT_FOUND
    async with open_store(config.store) as store:
        records = await store.silences(now, include_expired=True)
        record = next((r for r in records if r.id == silence_id), None)
        if record is None:
            io.say(f"error: no silence has id {silence_id} (see: silence list --all)")
            return EXIT_NOT_FOUND
        if record.ends_at <= now or not await store.expire_silence(silence_id, now):
            io.say(f"error: silence {silence_id} already ended at {_when(record.ends_at)}")
            return EXIT_NOT_FOUND
    print(f"silence {silence_id} expired: {matchers_line(record.matchers)}", file=io.out)
    io.out.flush()
    return EXIT_OK
