"""What ``explain`` shows: the one-device explanation as JSON and as terminal text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.commands.inspect.terminal import (
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
    truncate,
)
from monitor.engine import RuleExplanation, RuleSet, Verdict
from monitor.models import Alert, AlertState, Device, FactKind, Subject, SubjectKind
from monitor.sources.base import DeviceFacts
from monitor.store.base import AlertHistoryEntry

STATE_ORDER = {AlertState.FIRING: 0, AlertState.PENDING: 1, AlertState.RESOLVED: 2}


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
