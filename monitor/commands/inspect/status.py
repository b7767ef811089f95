"""``compliance-monitor status``: what is firing, read from the store; never sweeps.

The store is opened as the daemon opens it (SQLite in WAL mode lets a reader in while
the daemon writes). Silences come from the config and the store, as the notification
pipeline reads them, so "silenced" here means what it means for notifications.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitor.clock import Clock, SystemClock, format_age
from monitor.commands.inspect.terminal import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    JSON_VERSION,
    SEVERITY_STYLE,
    STATUS_STYLE,
    Column,
    CommandIo,
    Terminal,
    ago,
    clean,
    iso,
    table_lines,
    truncate,
    write_json,
)
from monitor.config import Config
from monitor.errors import StoreError
from monitor.log import redact
from monitor.models import Severity, SubjectKind, SweepStats
from monitor.notify.silences import Silence
from monitor.status import STATUS_ORDER, Status, StatusRow, open_status
from monitor.store import store_exists, store_name
from monitor.store.base import OutboxMessage, OutboxState
from monitor.web.view import matchers_text

#: Dead letters listed in ``status --json`` (all of them are counted).
DEAD_LETTERS_SHOWN = 100


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """One configured source as the store remembers it."""

    name: str
    kind: str
    enabled: bool
    interval: timedelta
    last_sweep: SweepStats | None
    last_success: datetime | None
    #: The instance holding the source's lease (sweeping it), and until when.
    holder: str | None = None
    lease_expires_at: datetime | None = None


@dataclass(slots=True)
class StatusReport:
    """Everything ``status`` prints, read from the store in one go."""

    now: datetime
    store: str
    rows: list[StatusRow]
    sources: list[SourceStatus]
    silences: list[Silence]
    counts: dict[str, int] = field(default_factory=dict)
    #: How many notifications were given up on, and the most recent of them.
    dead_letter_count: int = 0
    dead_letters: list[OutboxMessage] = field(default_factory=list)

    def selected(self, include_all: bool) -> list[StatusRow]:
        """The rows to show: firing only, or every row."""
        return [r for r in self.rows if include_all or r.status == "firing"]


async def read_status(config: Config, status: Status, now: datetime) -> StatusReport:
    """Alerts, silences and each source's last sweeps, from the status provider."""
    rows = await status.rows(now)
    health = {h.name: h for h in status.health()}
    leases = await status.lease_rows()
    sources = [
        SourceStatus(
            name=src.name,
            kind=src.kind,
            enabled=src.enabled,
            interval=src.interval,
            last_sweep=health[src.name].history[-1] if health[src.name].history else None,
            last_success=health[src.name].last_success,
            holder=leases[src.name].owner if src.name in leases else None,
            lease_expires_at=leases[src.name].expires_at if src.name in leases else None,
        )
        for src in config.sources
    ]
    counts = dict.fromkeys(STATUS_ORDER, 0)
    for r in rows:
        counts[r.status] += 1
    dead_count = (await status.outbox_counts())[OutboxState.DEAD]
    dead = await status.dead_letter_messages(limit=DEAD_LETTERS_SHOWN) if dead_count else []
    silences = await status.silence_list(now)
    return StatusReport(
        now, store_name(config.store), rows, sources, silences, counts, dead_count, dead
    )


async def status(
    config: Config,
    *,
    as_json: bool,
    include_all: bool,
    io: CommandIo | None = None,
    clock: Clock | None = None,
) -> int:
    """``compliance-monitor status``: what is firing, from the store; never sweeps."""
    io = io or CommandIo.of()
    now = (clock or SystemClock()).now()
    if not store_exists(config.store):
        io.say(
            f"no store at {store_name(config.store)}: the daemon has not run with this "
            "config yet (or store points elsewhere)"
        )
        return EXIT_NOT_FOUND
    try:
        async with open_status(config, clock or SystemClock()) as provider:
            report = await read_status(config, provider, now)
    except StoreError as exc:
        io.say(f"cannot read the store: {redact(str(exc))}")
        return EXIT_NOT_FOUND
    if as_json:
        write_json(io.out, status_document(report, include_all=include_all))
    else:
        io.out.write(render_status(report, include_all=include_all, term=io.term))
    return EXIT_OK


def _row_json(r: StatusRow) -> dict[str, Any]:
    a, f = r.alert, r.alert.finding
    return {
        "fingerprint": a.fingerprint,
        **f.display_fields(),
        "status": r.status,
        "state": a.state.value,
        "silenced_by": r.silenced_by,
        "baseline": a.baseline,
        "since": iso(r.since),
        "active_since": iso(a.active_since),
        "firing_since": iso(a.firing_since),
        "resolved_at": iso(a.resolved_at),
        "last_seen": iso(a.last_seen),
        "labels": dict(sorted(f.labels.items())),
    }


GroupKey = tuple[int, str, str]


def _group_key(r: StatusRow) -> GroupKey:
    """Rows are grouped by rule and source (as the demo's route groups notifications)."""
    return (-r.alert.severity.rank, r.alert.rule_id, r.alert.finding.source)


def _sorted_rows(rows: Iterable[StatusRow]) -> list[StatusRow]:
    """Grouped like the status page: most severe first, then the largest group, then by
    rule id and source; in a group, by status (firing first) then device."""
    pool = list(rows)
    sizes: dict[GroupKey, int] = {}
    for r in pool:
        sizes[_group_key(r)] = sizes.get(_group_key(r), 0) + 1
    return sorted(
        pool,
        key=lambda r: (
            _group_key(r)[0],
            -sizes[_group_key(r)],
            _group_key(r)[1:],
            r.sort_key,
            r.alert.fingerprint,
        ),
    )


def status_document(report: StatusReport, *, include_all: bool) -> dict[str, Any]:
    """The ``status --json`` document (``version`` 1; keys are only ever added)."""
    firing = [r for r in report.rows if r.status == "firing"]
    by_severity = {s.value: 0 for s in sorted(Severity, key=lambda s: -s.rank)}
    for r in firing:
        by_severity[r.alert.severity.value] += 1
    return {
        "version": JSON_VERSION,
        "generated_at": report.now.isoformat(),
        "store": report.store,
        "include_all": include_all,
        "summary": {
            **{s: report.counts.get(s, 0) for s in STATUS_ORDER},
            "devices_affected": len(
                {(r.alert.finding.source, r.alert.finding.device_id) for r in firing}
            ),
            "firing_by_severity": by_severity,
            "dead_letters": report.dead_letter_count,
        },
        "sources": [
            {
                "name": s.name,
                "kind": s.kind,
                "enabled": s.enabled,
                "last_sweep": None
                if s.last_sweep is None
                else {
                    "finished_at": s.last_sweep.finished_at.isoformat(),
                    "ok": s.last_sweep.ok,
                    "devices": s.last_sweep.devices,
                    "requests": s.last_sweep.requests,
                    "findings": s.last_sweep.findings,
                    "error": s.last_sweep.error,
                },
                "last_success": iso(s.last_success),
                "lease": None if s.holder is None else {
                    "holder": s.holder, "expires_at": iso(s.lease_expires_at),
                },
            }
            for s in report.sources
        ],
        "alerts": [_row_json(r) for r in _sorted_rows(report.selected(include_all))],
        "silences": [
            {
                "id": s.id,
                "matchers": matchers_text((m.name, m.op, m.value) for m in s.matchers),
                "starts_at": iso(s.starts_at),
                "ends_at": iso(s.ends_at),
                "recurring": s.every is not None,
                "active": s.active(report.now),
                "comment": s.comment,
                "author": s.author,
            }
            for s in report.silences
        ],
        "dead_letters": [_dead_letter_json(m) for m in report.dead_letters],
    }


def _dead_letter_json(m: OutboxMessage) -> dict[str, Any]:
    return {
        "id": m.id,
        "receiver": m.receiver,
        "group_key": m.group_key,
        "title": m.title,
        "reason": m.reason.value,
        "attempts": m.attempts,
        # Stored secret-free; redacted again in case a secret slipped through.
        "last_error": redact(m.last_error),
        "created_at": iso(m.created_at),
        "failed_at": iso(m.next_attempt_at),
    }


def dead_letter_line(count: int) -> str:
    """The line ``status`` prints when notifications were given up on."""
    noun = "message" if count == 1 else "messages"
    return f"{count} {noun} could not be delivered (dead letters): outbox list shows them"


#: The source of every row is in its group's title line, so it takes no column.
STATUS_COLUMNS = (
    Column("DEVICE", 10),
    Column("SERIAL", 6),
    Column("SUBJECT", 10),
    Column("STATUS", 6),
    Column("SINCE", 5),
)
_INDENT = "  "


def _subject_cell(r: StatusRow) -> str:
    f = r.alert.finding
    name = clean(f.subject_name) if f.subject_kind is not SubjectKind.DEVICE else "device"
    if f.subject_status:
        return f"{name} ({clean(f.subject_status)})"
    return name if f.subject_kind is not SubjectKind.DEVICE else "(device)"


def _status_cells(r: StatusRow, now: datetime) -> list[str]:
    f = r.alert.finding
    return [
        clean(f.device_name or f.device_id or "—"),
        clean(f.device_serial) or "—",
        _subject_cell(r),
        r.status,
        ago(r.since, now),
    ]


def _source_line(s: SourceStatus, now: datetime) -> str:
    if not s.enabled:
        return f"{s.name} ({s.kind}): disabled"
    last = s.last_sweep
    if last is None:
        return f"{s.name} ({s.kind}): no sweep recorded"
    st = last
    if st.ok:
        text = f"{s.name} ({s.kind}): swept {ago(st.finished_at, now)} ago, {st.devices} devices"
    else:
        error = clean(st.error) or "incomplete"
        success = (
            f"last success {ago(s.last_success, now)} ago" if s.last_success else "never succeeded"
        )
        text = (
            f"{s.name} ({s.kind}): last sweep FAILED {ago(st.finished_at, now)} ago "
            f"({success}): {error}"
        )
    if st.ok and now - st.finished_at > s.interval * 2:
        text += f" (stale: expected every {format_age(s.interval.total_seconds())})"
    if s.holder is not None and s.lease_expires_at is not None:
        text += f"; swept by {s.holder} (lease for {ago(now, s.lease_expires_at)})"
    return text


def render_status(report: StatusReport, *, include_all: bool, term: Terminal) -> str:
    """The human ``status`` output: sources, a summary line, then the grouped table (a
    rich table; each group of rows under a title line naming its rule and source)."""
    now, width, lines = report.now, term.width, []
    for s in report.sources:
        failing = s.last_sweep is not None and not s.last_sweep.ok
        line = truncate(_source_line(s, now), width)
        lines.append(term.paint(line, "red") if failing else line)
    c = report.counts
    firing = [r for r in report.rows if r.status == "firing"]
    devices = len({(r.alert.finding.source, r.alert.finding.device_id) for r in firing})
    headline = (
        f"{c['firing']} firing on {devices} device{'' if devices == 1 else 's'}"
        if c["firing"]
        else "Nothing is firing"
    )
    others = ", ".join(f"{c[s]} {s}" for s in STATUS_ORDER[1:] if c[s])
    summary = headline + (f" ({others})" if others else "")
    lines.append(term.paint(truncate(summary, width), "bold", "red" if c["firing"] else "green"))
    if report.dead_letter_count:
        lines.append(term.paint(truncate(dead_letter_line(report.dead_letter_count), width), "red"))
    rows = _sorted_rows(report.selected(include_all))
    if not rows:
        if others and not include_all:
            lines.append("status --all shows the others.")
        return "\n".join(lines) + "\n"
    lines.append("")
    table = table_lines(
        STATUS_COLUMNS,
        [_status_cells(r, now) for r in rows],
        width - len(_INDENT),
        term,
        styles=[{3: STATUS_STYLE[r.status]} for r in rows],
    )
    lines.append(_INDENT + table[0])
    members: dict[GroupKey, list[StatusRow]] = {}
    for r in rows:
        members.setdefault(_group_key(r), []).append(r)
    group: GroupKey | None = None
    for r, row_line in zip(rows, table[1:], strict=True):
        if _group_key(r) != group:
            group = _group_key(r)
            lines.append(_group_title(r, members[group], term))
        lines.append(_INDENT + row_line)
    if not include_all and others:
        lines.append("")
        lines.append(f"Not shown: {others} (status --all shows them).")
    return "\n".join(lines) + "\n"


def _group_title(first: StatusRow, members: Sequence[StatusRow], term: Terminal) -> str:
    sev = first.alert.severity.value
    devices = len({(m.alert.finding.source, m.alert.finding.device_id) for m in members})
    by_status = [
        f"{n} {s}" for s in STATUS_ORDER if (n := sum(1 for m in members if m.status == s))
    ]
    tail = f" · {', '.join(by_status)} on {devices} device{'' if devices == 1 else 's'}"
    label = sev.upper()
    source = clean(first.alert.finding.source)
    text = truncate(f"{label} {first.alert.rule_id} · {source}{tail}", term.width)
    if not term.color:
        return text
    head, _, rest = text.partition(" ")
    return term.paint(head, *SEVERITY_STYLE[sev]) + " " + term.paint(rest, "bold")


