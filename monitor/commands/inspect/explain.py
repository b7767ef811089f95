"""``compliance-monitor explain DEVICE``: one device, live from its source, and why.

The device is looked up in the device list of every enabled source (or of ``--source``)
by id, serial number or name. Then only the facts the enabled rules need are fetched
(each source's look-up, :meth:`monitor.sources.base.Source.lookup`, makes the same
calls its per-device sweep makes), plus, where the MDM keeps one, the newest entries of
the device's activity feed. Every rule is run on them
with :func:`monitor.engine.explain`; the store adds the device's alerts and history.

An interactive command should not sit through a daemon's patient retries: the source's
retry settings are capped by :data:`EXPLAIN_RETRY`.
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TextIO, TypeVar

from monitor.clock import Clock, SystemClock
from monitor.commands.inspect.terminal import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    JSON_VERSION,
    STATUS_STYLE,
    Column,
    Terminal,
    ago,
    clean,
    display_width,
    fit_columns,
    iso,
    join_cells,
    pad,
    store_exists,
    truncate,
    write_json,
)
from monitor.config import Config, RetryConfig, SourceConfig
from monitor.engine import RuleExplanation, RuleSet, Verdict, explain, load_rules
from monitor.errors import MonitorError, NotFoundError, StoreError
from monitor.log import redact
from monitor.models import Alert, AlertState, Device, FactKind, SourceKind, Subject, SubjectKind
from monitor.sources import registry
from monitor.sources.base import DeviceFacts, DeviceLookup
from monitor.store.base import AlertHistoryEntry
from monitor.store.sqlite import SqliteStore

T = TypeVar("T")

ACTIVITY_SHOWN = 10
HISTORY_SHOWN = 20
CLOSE_MATCHES = 5
#: An interactive command should not sit through a daemon's patient retries.
EXPLAIN_RETRY = RetryConfig(
    max_attempts=3, backoff_base=timedelta(milliseconds=500), backoff_max=timedelta(seconds=4)
)
EXPLAIN_BUDGET_WAIT = 20.0


def _lookup(src: SourceConfig, clock: Clock) -> DeviceLookup:
    interactive = src.model_copy(update={"retry": _gentler(src.retry)})
    return registry.get(src.kind).lookup(interactive, clock, budget_max_wait=EXPLAIN_BUDGET_WAIT)


def _gentler(retry: RetryConfig) -> RetryConfig:
    return RetryConfig(
        max_attempts=min(retry.max_attempts, EXPLAIN_RETRY.max_attempts),
        backoff_base=min(retry.backoff_base, EXPLAIN_RETRY.backoff_base),
        backoff_max=min(retry.backoff_max, EXPLAIN_RETRY.backoff_max),
        max_retry_after=min(retry.max_retry_after, timedelta(seconds=EXPLAIN_BUDGET_WAIT)),
    )


@dataclass(frozen=True, slots=True)
class Candidate:
    """A device that looks like what was asked for."""

    source: str
    device: Device


def _casefold(text: str) -> str:
    return text.strip().casefold()


def exact_matches(query: str, devices: Iterable[Device]) -> list[Device]:
    """Devices whose id, serial number or name is ``query`` (case does not matter).

    An id match wins over a serial match, which wins over a name match (names repeat).
    """
    q = _casefold(query)
    if not q:
        return []
    pool = list(devices)
    for attr in ("device_id", "serial", "name"):
        found = [d for d in pool if _casefold(str(getattr(d, attr))) == q]
        if found:
            return found
    return []


def close_matches(query: str, candidates: Sequence[Candidate], n: int = CLOSE_MATCHES) -> list[
    Candidate
]:
    """Devices whose name or serial resembles ``query``: containing it, or spelled alike."""
    q = _casefold(query)
    if not q:
        return []
    scored: list[tuple[float, str, Candidate]] = []
    for c in candidates:
        best = 0.0
        for text in (c.device.name, c.device.serial, c.device.device_id):
            t = _casefold(text)
            if not t:
                continue
            if q in t:
                best = max(best, 0.9 + len(q) / (100 * len(t)))
            else:
                best = max(best, difflib.SequenceMatcher(None, q, t).ratio())
        if best >= 0.6:
            scored.append((best, c.device.name.casefold(), c))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [c for _, _, c in scored[:n]]


@dataclass(slots=True)
class Explanation:
    """Everything ``explain`` reports on one device."""

    query: str
    now: datetime
    facts: DeviceFacts
    rules: list[RuleExplanation]
    ruleset: RuleSet
    needs: frozenset[FactKind]
    alerts: list[Alert] | None
    history: list[AlertHistoryEntry] | None
    store_note: str = ""
    warnings: list[str] = field(default_factory=list)


async def explain_device(
    config: Config,
    query: str,
    *,
    source: str | None,
    as_json: bool,
    out: TextIO,
    err: TextIO,
    term: Terminal | None = None,
    clock: Clock | None = None,
) -> int:
    """``compliance-monitor explain DEVICE``: facts, verdicts, history and activity."""
    clock = clock or SystemClock()
    term = term or Terminal()
    sources = [s for s in config.sources if s.enabled and (source is None or s.name == source)]
    if source is not None and not sources:
        names = ", ".join(s.name for s in config.sources if s.enabled) or "none"
        print(f"no enabled source is named {source!r} (sources: {names})", file=err)
        return EXIT_USAGE
    ruleset = load_rules(
        config.rules.files, builtin=config.rules.builtin, disabled=config.rules.disabled
    )
    lookups = {s.name: _lookup(s, clock) for s in sources}
    try:
        return await _explain(
            config, query, lookups, ruleset, clock, as_json=as_json, out=out, err=err, term=term
        )
    finally:
        for lk in lookups.values():
            await lk.close()


async def _explain(
    config: Config,
    query: str,
    lookups: Mapping[str, DeviceLookup],
    ruleset: RuleSet,
    clock: Clock,
    *,
    as_json: bool,
    out: TextIO,
    err: TextIO,
    term: Terminal,
) -> int:
    names = list(lookups)
    listed = await asyncio.gather(
        *(lookups[n].devices() for n in names), return_exceptions=True
    )
    unreachable: dict[str, str] = {}
    found: list[Candidate] = []
    everything: list[Candidate] = []
    for name, answer in zip(names, listed, strict=True):
        if isinstance(answer, MonitorError):
            unreachable[name] = redact(str(answer))
            continue
        if isinstance(answer, BaseException):
            raise answer
        everything.extend(Candidate(name, d) for d in answer)
        found.extend(Candidate(name, d) for d in exact_matches(query, answer))
    for name, error in unreachable.items():
        print(f"cannot reach source {name}: {error}", file=err)

    if len(found) != 1:
        if not found and unreachable:
            if as_json:
                write_json(out, _failure_document(query, "unreachable", [], unreachable))
            return EXIT_UNREACHABLE
        ambiguous = len(found) > 1
        shown = found if ambiguous else close_matches(query, everything)
        if as_json:
            write_json(
                out,
                _failure_document(
                    query, "ambiguous" if ambiguous else "not_found", shown, unreachable
                ),
            )
        else:
            _print_candidates(query, shown, ambiguous=ambiguous, out=err, width=term.width)
        return EXIT_NOT_FOUND

    match = found[0]
    lookup = lookups[match.source]
    kind = SourceKind(lookup.src.kind)
    needs = ruleset.needs(kind)
    try:
        facts = await lookup.facts(match.device, needs)
    except NotFoundError:
        print(f"{match.device.name or query} was removed from {match.source} just now", file=err)
        return EXIT_NOT_FOUND
    now = clock.now()
    rules = explain(ruleset, facts.device, facts.subjects, now)
    result = Explanation(query, now, facts, rules, ruleset, needs, None, None)
    await _read_history(config, result)
    result.warnings = [f"cannot reach source {n}: {e}" for n, e in unreachable.items()]
    result.warnings += [f"could not fetch from {match.source}: {e}" for e in facts.errors]
    if as_json:
        write_json(out, explain_document(result))
    else:
        out.write(render_explanation(result, term))
    return EXIT_UNREACHABLE if facts.errors else EXIT_OK


async def _read_history(config: Config, result: Explanation) -> None:
    path = config.store.path
    device = result.facts.device
    if not store_exists(path):
        result.store_note = f"no store at {path}: no alert history yet"
        return
    try:
        async with SqliteStore(path) as store:
            alerts = await store.load_alerts(result.facts.source)
            result.history = await store.alert_history(
                device_id=device.device_id, source=result.facts.source, limit=HISTORY_SHOWN
            )
    except StoreError as exc:
        result.store_note = f"cannot read the store: {redact(str(exc))}"
        return
    mine = [a for a in alerts.values() if a.finding.device_id == device.device_id]
    mine.sort(key=lambda a: (STATE_ORDER[a.state], -a.severity.rank, a.rule_id,
                             a.finding.subject_name.casefold()))
    result.alerts = mine


STATE_ORDER = {AlertState.FIRING: 0, AlertState.PENDING: 1, AlertState.RESOLVED: 2}


def _failure_document(
    query: str, error: str, candidates: Sequence[Candidate], unreachable: Mapping[str, str]
) -> dict[str, Any]:
    return {
        "version": JSON_VERSION,
        "query": query,
        "found": False,
        "error": error,
        "candidates": [
            {
                "source": c.source,
                "device_id": c.device.device_id,
                "name": c.device.name,
                "serial": c.device.serial,
            }
            for c in candidates
        ],
        "unreachable": dict(sorted(unreachable.items())),
    }


def _print_candidates(
    query: str, candidates: Sequence[Candidate], *, ambiguous: bool, out: TextIO, width: int
) -> None:
    if ambiguous:
        print(f"{query!r} names {len(candidates)} devices; give an id or a serial:", file=out)
    elif candidates:
        print(f"no device is {query!r} (by id, serial or name); close matches:", file=out)
    else:
        print(f"no device is {query!r} (by id, serial or name), nor anything like it", file=out)
    columns = (Column("NAME", 10), Column("SERIAL", 6), Column("SOURCE", 6), Column("ID", 8))
    cells = [
        [clean(c.device.name) or "—", clean(c.device.serial) or "—", c.source, c.device.device_id]
        for c in candidates
    ]
    widths = fit_columns(columns, cells, width - 2)
    if cells:
        print("  " + join_cells([c.header for c in columns], widths), file=out)
    for row in cells:
        print("  " + join_cells(row, widths), file=out)


# --------------------------------------------------------------------------- explain: JSON


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def device_facts(device: Device) -> dict[str, Any]:
    """Every fact of ``device``: its fields, then its ``attrs`` (sorted), JSON-ready."""
    facts: dict[str, Any] = {
        "device_id": device.device_id,
        "name": device.name,
        "serial": device.serial,
        "platform": device.platform,
        "model": device.model,
        "os_version": device.os_version,
        "blueprint_id": device.blueprint_id,
        "blueprint_name": device.blueprint_name,
        "user_email": device.user_email,
        "last_check_in": device.last_check_in,
        "tags": list(device.tags),
    }
    facts.update(sorted(device.attrs.items()))
    return {k: _jsonable(v) for k, v in facts.items()}


def _alert_json(a: Alert) -> dict[str, Any]:
    f = a.finding
    return {
        "fingerprint": a.fingerprint,
        "rule_id": f.rule_id,
        "severity": f.severity.value,
        "state": a.state.value,
        "subject_kind": f.subject_kind.value,
        "subject_id": f.subject_id,
        "subject_name": f.subject_name,
        "subject_status": f.subject_status,
        "summary": f.summary,
        "active_since": iso(a.active_since),
        "firing_since": iso(a.firing_since),
        "resolved_at": iso(a.resolved_at),
        "last_seen": iso(a.last_seen),
    }


def explain_document(e: Explanation) -> dict[str, Any]:
    """The ``explain --json`` document (``version`` 1; keys are only ever added)."""
    f = e.facts
    return {
        "version": JSON_VERSION,
        "query": e.query,
        "found": True,
        "generated_at": e.now.isoformat(),
        "source": f.source,
        "source_kind": f.source_kind.value,
        "device": device_facts(f.device),
        "fetched": sorted(k.value for k in f.fetched),
        "needed": sorted(k.value for k in e.needs),
        "subjects": {
            kind.value: [
                {
                    "id": s.id,
                    "name": s.name,
                    "status": s.status,
                    "type": s.type,
                    "attrs": _jsonable(dict(sorted(s.attrs.items()))),
                }
                for s in subjects
            ]
            for kind, subjects in sorted(f.subjects.items())
        },
        "rules": [
            {
                "rule_id": r.rule_id,
                "verdict": r.verdict.value,
                "reason": r.reason,
                "severity": _rule_severity(e.ruleset, r.rule_id),
                "subjects": [
                    {
                        "subject_kind": s.subject_kind.value,
                        "subject_id": s.subject_id,
                        "subject_name": s.subject_name,
                        "subject_status": s.subject_status,
                        "verdict": s.verdict.value,
                        "reasons": list(s.reasons),
                        "summary": s.finding.summary if s.finding is not None else None,
                    }
                    for s in r.subjects
                    if s.verdict in (Verdict.MATCH, Verdict.EXCLUDED)
                    or s.subject_kind is SubjectKind.DEVICE
                ],
            }
            for r in e.rules
        ],
        "alerts": None if e.alerts is None else [_alert_json(a) for a in e.alerts],
        "history": None if e.history is None else [
            {
                "at": h.transition.at.isoformat(),
                "rule_id": h.transition.alert.rule_id,
                "subject_name": h.transition.alert.finding.subject_name,
                "previous": None if h.transition.previous is None else h.transition.previous.value,
                "current": h.transition.current.value,
                "fingerprint": h.transition.fingerprint,
            }
            for h in e.history
        ],
        "activity": None if f.activity is None else [
            {
                "at": iso(a.at),
                "action": a.action,
                "summary": a.summary,
                "details": _jsonable(a.details),
            }
            for a in f.activity
        ],
        "activity_error": f.activity_error or None,
        "store_note": e.store_note or None,
        "warnings": e.warnings,
    }


def _rule_severity(ruleset: RuleSet, rule_id: str) -> str | None:
    rule = ruleset.get(rule_id)
    return None if rule is None else rule.severity.value


# --------------------------------------------------------------------------- explain: text


_VERDICT_TEXT = {
    Verdict.MATCH: ("MATCH", ("bold", "red")),
    Verdict.EXCLUDED: ("excluded", ("yellow",)),
    Verdict.NO_MATCH: ("ok", ("green",)),
    Verdict.NO_FACTS: ("no facts", ("yellow",)),
    Verdict.DISABLED: ("disabled", ("dim",)),
    Verdict.NOT_APPLICABLE: ("n/a", ("dim",)),
}


def _show_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "—"
    if value == "":
        return '""'
    if isinstance(value, list | tuple):
        return ", ".join(_show_value(v) for v in value) or "(none)"
    return clean(value)


def _alert_since(a: Alert) -> datetime | None:
    if a.state is AlertState.RESOLVED:
        return a.resolved_at
    return a.firing_since or a.active_since


def render_explanation(e: Explanation, term: Terminal) -> str:
    """The human ``explain`` output: who, facts, subjects, rules, alerts, activity."""
    w, f, d = term.width, e.facts, e.facts.device
    lines: list[str] = []

    def heading(text: str) -> None:
        lines.append("")
        lines.append(term.paint(truncate(text, w), "bold"))

    def line(text: str, *styles: str) -> None:
        lines.append(term.paint(truncate(text, w), *styles))

    line(clean(d.name) or d.device_id, "bold")
    line(f"serial {clean(d.serial) or '—'} · id {d.device_id}")
    what = [f"{f.source} ({f.source_kind})", clean(d.platform), clean(d.model), clean(d.os_version)]
    line(" · ".join(x for x in what if x))
    if d.last_check_in is not None:
        line(f"last check-in {ago(d.last_check_in, e.now)} ago ({d.last_check_in.isoformat()})")
    for warning in e.warnings:
        line(f"warning: {warning}", "yellow")

    heading(f"Facts (fetched: {', '.join(sorted(k.value for k in f.fetched))})")
    facts = device_facts(d)
    key_width = min(30, max((display_width(k) for k in facts), default=0))
    for key, value in facts.items():
        if key not in ("device_id", "name", "serial"):
            line(f"  {pad(key, key_width)}  {_show_value(value)}")

    matched = {
        (s.subject_kind, s.subject_id)
        for r in e.rules
        for s in r.subjects
        if s.verdict is Verdict.MATCH
    }
    for kind, subjects in sorted(f.subjects.items()):
        _render_subjects(lines, kind, subjects, matched, term)

    heading(f"Rules ({len(e.rules)})")
    _render_rules(lines, e, term)

    heading("Alerts on this device (from the store)")
    if e.alerts is None:
        line(f"  {e.store_note}", "dim")
    elif not e.alerts:
        line("  none")
    else:
        cells = [
            [a.state.value, a.rule_id, _alert_subject(a), ago(_alert_since(a), e.now)]
            for a in e.alerts
        ]
        columns = (
            Column("STATE", 5), Column("RULE", 12), Column("SUBJECT", 10), Column("SINCE", 5)
        )
        widths = fit_columns(columns, cells, w - 2)
        line("  " + join_cells([c.header for c in columns], widths), "bold")
        for a, row in zip(e.alerts, cells, strict=True):
            styles = {0: STATUS_STYLE.get(a.state.value, ())}
            lines.append("  " + join_cells(row, widths, term=term, styles=styles))
    if e.history:
        heading(f"History (newest first, last {len(e.history)})")
        cells = [
            [
                h.transition.at.strftime("%Y-%m-%d %H:%M:%S"),
                f"{_state(h.transition.previous)} → {h.transition.current.value}",
                h.transition.alert.rule_id,
                _alert_subject(h.transition.alert),
            ]
            for h in e.history
        ]
        columns = (Column("AT", 19), Column("CHANGE", 8), Column("RULE", 12), Column("SUBJECT", 8))
        widths = fit_columns(columns, cells, w - 2)
        for row in cells:
            lines.append("  " + join_cells(row, widths))

    if f.activity is not None or f.activity_error:
        heading("Recent activity in the MDM (newest first)")
        if f.activity_error:
            line(f"  unavailable: {f.activity_error}", "yellow")
        elif not f.activity:
            line("  none")
        for act in f.activity or []:
            when = act.at.strftime("%Y-%m-%d %H:%M") if act.at else "—"
            line(f"  {when}  {clean(act.action)}  {act.summary}")
    return "\n".join(lines) + "\n"


def _state(state: AlertState | None) -> str:
    return "new" if state is None else state.value


def _alert_subject(a: Alert) -> str:
    f = a.finding
    return "(device)" if f.subject_kind is SubjectKind.DEVICE else clean(f.subject_name)


_SUBJECT_TITLES = {
    SubjectKind.LIBRARY_ITEM: "Library items",
    SubjectKind.PARAMETER: "Parameters",
    SubjectKind.APP: "Apps",
    SubjectKind.LOST_MODE: "Lost Mode",
}
#: Apps are many and rarely the point: list them only when a rule matched one.
_LISTED_APPS_MAX = 0


def _render_subjects(
    lines: list[str],
    kind: SubjectKind,
    subjects: Sequence[Subject],
    matched: set[tuple[SubjectKind, str]],
    term: Terminal,
) -> None:
    w = term.width
    by_status: dict[str, int] = {}
    for s in subjects:
        by_status[s.status or "—"] = by_status.get(s.status or "—", 0) + 1
    counts = ", ".join(f"{n} {st}" for st, n in sorted(by_status.items(), key=lambda x: -x[1]))
    title = f"{_SUBJECT_TITLES.get(kind, kind.value)} ({len(subjects)})"
    lines.append("")
    lines.append(term.paint(truncate(f"{title}: {counts}" if counts else title, w), "bold"))
    shown = [s for s in subjects if kind is not SubjectKind.APP or (kind, s.id) in matched]
    if kind is SubjectKind.APP and len(shown) < len(subjects):
        lines.append(f"  ({len(subjects) - len(shown)} apps not listed; --json has them all)")
    shown.sort(key=lambda s: ((kind, s.id) not in matched, s.name.casefold()))
    cells = [[clean(s.name), clean(s.status) or "—", clean(s.type)] for s in shown]
    widths = fit_columns(
        (Column("NAME", 12), Column("STATUS", 6), Column("TYPE", 6)), cells, w - 4
    )
    for s, row in zip(shown, cells, strict=True):
        hit = (kind, s.id) in matched
        mark = term.paint("✗", "red") if hit else " "
        text = join_cells(row, widths, term=term, styles={1: ("red",)} if hit else None)
        lines.append(f"  {mark} {text}")


def _rule_reason(r: RuleExplanation) -> str:
    """Why, in one line: a device rule's deciding condition, or a count for subject rules."""
    subjects = [s for s in r.subjects if s.subject_kind is not SubjectKind.DEVICE]
    if r.verdict is Verdict.NO_MATCH and subjects:
        kind = subjects[0].subject_kind.value.replace("_", " ")
        return f"none of {len(subjects)} {kind}s matches"
    return clean(r.reason)


def _render_rules(lines: list[str], e: Explanation, term: Terminal) -> None:
    w = term.width
    not_applicable = [r for r in e.rules if r.verdict is Verdict.NOT_APPLICABLE]
    disabled = [r for r in e.rules if r.verdict is Verdict.DISABLED]
    shown = [r for r in e.rules if r.verdict not in (Verdict.NOT_APPLICABLE, Verdict.DISABLED)]
    order = [Verdict.MATCH, Verdict.EXCLUDED, Verdict.NO_FACTS, Verdict.NO_MATCH]
    shown.sort(key=lambda r: order.index(r.verdict))
    id_width = min(40, max((len(r.rule_id) for r in shown), default=0))
    for r in shown:
        label, styles = _VERDICT_TEXT[r.verdict]
        head = f"  {pad(label, 8)}  {pad(r.rule_id, id_width)}"
        reason = _rule_reason(r)
        painted = "  " + term.paint(pad(label, 8), *styles) + head[10:]
        if display_width(head) + 2 + display_width(reason) <= w:
            lines.append(f"{painted}  {reason}")
        else:
            # Too long for the line: the reason goes under the rule, whole if it can.
            lines.append(painted.rstrip())
            lines.append(truncate(f"            {reason}", w))
        if r.verdict is Verdict.MATCH:
            for s in r.subjects:
                if s.verdict is Verdict.MATCH and s.finding is not None:
                    lines.append(truncate(f"            ✗ {clean(s.finding.summary)}", w))
        elif r.verdict is Verdict.EXCLUDED:
            for s in r.subjects:
                if s.verdict is Verdict.EXCLUDED and s.reasons:
                    lines.append(truncate(f"            {clean(s.reasons[-1])}", w))
    if disabled:
        text = f"  disabled: {', '.join(r.rule_id for r in disabled)}"
        lines.append(term.paint(truncate(text, w), "dim"))
    if not_applicable:
        text = f"  not for {e.facts.source_kind} devices: " + ", ".join(
            r.rule_id for r in not_applicable
        )
        lines.append(term.paint(truncate(text, w), "dim"))
