"""The alert state machine: findings + previous state + coverage + now -> the next state.

Pure: no I/O, no clock, no event loop. One call evaluates one sweep of one source::

    previous alerts (all sources) ─┐
    findings of this sweep ────────┼──> step(...) ──> StepResult
    coverage of this sweep ────────┤                  (alerts after, changed rows,
    now ───────────────────────────┘                   transitions, rows to delete)

Life of one fingerprint::

              match, for > 0            held for ``for``
    (none) ──────────────> pending ─────────────────────> firing
       │                     │ stops matching               │ stops matching and stays
       │ match, for = 0      v                              │ so for keep_firing_for
       └───────────────> firing      (dropped, silent)      v
                                                        resolved ──(matches again)──> new run

What was not observed with fresh data in this sweep is *held*: its row is left exactly
as it was (``last_seen`` unchanged), never resolved. Stale data is not compliance.

Inhibition: a device that has not checked in for ``silent_after``, or that is gone from
a complete device list, gets one device-level alert (``monitor.device.silent`` /
``monitor.device.gone``); while that alert fires, the notification pipeline mutes the
device's other alerts (see :func:`inhibited_fingerprints`). The muted alerts keep their
state: they are still evaluated, just not announced.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from monitor.config import InhibitConfig
from monitor.models import (
    SUBJECT_FACT,
    Alert,
    AlertState,
    Coverage,
    FactKind,
    Finding,
    Severity,
    SubjectKind,
    Transition,
    device_ref,
)

DEVICE_SILENT_RULE = "monitor.device.silent"
DEVICE_GONE_RULE = "monitor.device.gone"
INHIBITING_RULES: frozenset[str] = frozenset({DEVICE_SILENT_RULE, DEVICE_GONE_RULE})

#: How long a resolved alert row is kept (for the status page, ``explain`` and the
#: resolved message) before the state machine deletes it.
RESOLVED_RETENTION = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one sweep of one source changed.

    ``alerts``: every alert of the source after the step (changed or not).
    ``changed``: the alerts whose row must be written (new, moved, or re-seen).
    ``transitions``: state changes, in fingerprint order, to append to the history.
    ``deleted``: fingerprints whose row must be removed (pending that stopped matching,
    resolved past retention).
    ``evaluated_rules``: the rule ids evaluated in this sweep (the store remembers them so
    a later first start can tell a new rule from a known one).
    """

    source: str
    alerts: Mapping[str, Alert]
    changed: Mapping[str, Alert]
    transitions: tuple[Transition, ...]
    deleted: frozenset[str]
    evaluated_rules: frozenset[str] = frozenset()

    @property
    def firing(self) -> int:
        """How many alerts of the source fire after the step."""
        return sum(1 for a in self.alerts.values() if a.state is AlertState.FIRING)


def baseline_rules(
    first_start: str, evaluated_rules: Collection[str], known_rules: Collection[str]
) -> frozenset[str]:
    """The rules whose current findings are a baseline rather than news.

    With ``notify.first_start: baseline``, a rule never evaluated before for a source
    (a first start, or a rule just added) records what it finds as already known.
    """
    if first_start != "baseline":
        return frozenset()
    return frozenset(evaluated_rules) - frozenset(known_rules)


def step(
    previous: Mapping[str, Alert],
    findings: Sequence[Finding],
    coverage: Coverage,
    now: datetime,
    *,
    evaluated_rules: Collection[str] | None = None,
    baseline: Collection[str] = (),
    inhibit: InhibitConfig | None = None,
    device_last_check_in: Mapping[str, datetime | None] | None = None,
    resolved_retention: timedelta = RESOLVED_RETENTION,
    rule_facts: Callable[[str], Collection[FactKind]] | None = None,
    held: Collection[tuple[str, str, str]] = (),
) -> StepResult:
    """Advance the alerts of ``coverage.source`` by one sweep.

    ``previous`` may hold alerts of every source; only those of ``coverage.source`` are
    considered and the others are left untouched (absent from the result). ``findings``
    must all belong to ``coverage.source``. ``baseline`` names rules whose new findings
    are recorded as firing but never announced (see :func:`baseline_rules`).
    ``inhibit`` enables the device-level silent/gone alerts; ``device_last_check_in``
    maps device ids to their last check-in for the silent test. ``rule_facts`` names
    the fact kinds each rule reads (a device rule on FileVault reads details): an alert
    is resolved only when every one of them was observed fresh for its device.
    ``held`` names (device id, subject kind, subject id) whose fresh data cannot be
    read (an undocumented status): their alerts are held like unobserved ones.
    """
    source = coverage.source
    mine = {fp: a for fp, a in previous.items() if a.finding.source == source}
    matching: dict[str, Finding] = {}
    for finding in findings:
        if finding.source != source:
            raise ValueError(
                f"finding {finding.fingerprint} belongs to source {finding.source!r}, "
                f"not {source!r}"
            )
        matching[finding.fingerprint] = finding
    if inhibit is not None:
        matching.update(
            _device_findings(mine, matching, coverage, now, inhibit, device_last_check_in or {})
        )

    baseline_set = frozenset(baseline)
    held_set = frozenset(held)
    after = dict(mine)
    changed: dict[str, Alert] = {}
    transitions: list[Transition] = []
    deleted: set[str] = set()

    for fp in sorted(matching):
        finding = matching[fp]
        old = mine.get(fp)
        new = _still_matching(old, finding, now, is_baseline=finding.rule_id in baseline_set)
        after[fp] = new
        changed[fp] = new
        if old is None or old.state is not new.state:
            transitions.append(
                Transition(fp, None if old is None else old.state, new.state, now, new)
            )

    for fp in sorted(set(mine) - set(matching)):
        old = mine[fp]
        if not _observed(coverage, old.finding, rule_facts):
            continue  # held: stale data is not compliance
        f = old.finding
        if held_set and (f.device_id, f.subject_kind.value, f.subject_id) in held_set:
            continue  # held: a status nobody documents is not a recovery
        outcome = _no_longer_matching(old, now, resolved_retention)
        if outcome is None:
            del after[fp]
            deleted.add(fp)
            continue
        if outcome == old:
            continue
        after[fp] = outcome
        changed[fp] = outcome
        if outcome.state is not old.state:
            transitions.append(Transition(fp, old.state, outcome.state, now, outcome))

    evaluated = frozenset(evaluated_rules) if evaluated_rules is not None else frozenset(
        f.rule_id for f in findings
    )
    return StepResult(
        source=source,
        alerts=after,
        changed=changed,
        transitions=tuple(transitions),
        deleted=frozenset(deleted),
        evaluated_rules=evaluated,
    )


def _still_matching(
    old: Alert | None, finding: Finding, now: datetime, *, is_baseline: bool
) -> Alert:
    """The alert after a sweep in which its finding matched."""
    if old is None or old.state is AlertState.RESOLVED:
        # A new run. A baseline finding is recorded as already firing (and never
        # announced); otherwise ``for`` decides between pending and firing.
        baseline = old is None and is_baseline
        firing = baseline or finding.for_seconds <= 0
        return Alert(
            fingerprint=finding.fingerprint,
            state=AlertState.FIRING if firing else AlertState.PENDING,
            finding=finding,
            active_since=now,
            last_seen=now,
            firing_since=now if firing else None,
            baseline=baseline,
        )
    if old.state is AlertState.PENDING:
        if (now - old.active_since).total_seconds() >= finding.for_seconds:
            return replace(old, state=AlertState.FIRING, finding=finding, last_seen=now,
                           firing_since=now)
        return replace(old, finding=finding, last_seen=now)
    # Firing: still firing; a keep_firing_for hold in progress is cancelled.
    return replace(old, finding=finding, last_seen=now, resolved_at=None)


def _no_longer_matching(old: Alert, now: datetime, retention: timedelta) -> Alert | None:
    """The alert after a sweep whose fresh data no longer matches; None deletes it."""
    if old.state is AlertState.PENDING:
        return None  # never announced: dropped silently
    if old.state is AlertState.RESOLVED:
        if old.resolved_at is not None and now - old.resolved_at >= retention:
            return None
        return old
    stopped = old.resolved_at or now
    held_for = (now - stopped).total_seconds()
    if held_for >= old.finding.keep_firing_for_seconds:
        return replace(old, state=AlertState.RESOLVED, resolved_at=stopped)
    # Keep firing a while, so an item flipping every sweep stays one alert.
    return replace(old, resolved_at=stopped)


def _observed(
    coverage: Coverage,
    finding: Finding,
    rule_facts: Callable[[str], Collection[FactKind]] | None = None,
) -> bool:
    """Whether this sweep brought fresh data about every fact the finding rests on."""
    if rule_facts is not None:
        kinds = rule_facts(finding.rule_id)
        if kinds:
            return all(coverage.observed(k, finding.device_id) for k in kinds)
    kind = SUBJECT_FACT.get(finding.subject_kind)
    if kind is None:
        # Source and action findings are computed by the monitor itself every sweep.
        return True
    return coverage.observed(kind, finding.device_id)


def _device_findings(
    previous: Mapping[str, Alert],
    matching: Mapping[str, Finding],
    coverage: Coverage,
    now: datetime,
    inhibit: InhibitConfig,
    last_check_in: Mapping[str, datetime | None],
) -> dict[str, Finding]:
    """One silent/gone finding per device whose other alerts it should mute."""
    # The device's names come from its freshest finding, else its stored alert.
    # Findings about no device (the source's own health) are never a device's.
    targets: dict[str, Finding] = {}
    for alert in previous.values():
        if (
            alert.rule_id not in INHIBITING_RULES
            and alert.state is not AlertState.RESOLVED
            and _on_a_device(alert.finding)
        ):
            targets.setdefault(alert.finding.device_id, alert.finding)
    for finding in matching.values():
        if finding.rule_id not in INHIBITING_RULES and _on_a_device(finding):
            targets[finding.device_id] = finding

    out: dict[str, Finding] = {}
    for device_id in sorted(targets):
        sample = targets[device_id]
        muted = _count_targets(previous, matching, device_id)
        gone = coverage.device_list_complete and device_id not in coverage.devices
        seen = last_check_in.get(device_id)
        if inhibit.device_gone and gone:
            rule_id, status = DEVICE_GONE_RULE, "gone"
            what = f"{sample.device_name} is no longer listed by {coverage.source}"
        elif seen is not None and now - seen >= inhibit.silent_after:
            days = (now - seen).total_seconds() / 86400
            rule_id, status = DEVICE_SILENT_RULE, "silent"
            what = f"{sample.device_name} has not checked in for {days:.1f} days"
        else:
            continue
        out_finding = _device_finding(
            sample, rule_id, status, f"{what}; {muted} alert(s) on it are muted", inhibit
        )
        out[out_finding.fingerprint] = out_finding
    return out


def _on_a_device(finding: Finding) -> bool:
    return bool(finding.device_id) and finding.subject_kind is not SubjectKind.SOURCE


def _count_targets(
    previous: Mapping[str, Alert], matching: Mapping[str, Finding], device_id: str
) -> int:
    fps = {
        fp for fp, a in previous.items()
        if a.finding.device_id == device_id and a.rule_id not in INHIBITING_RULES
        and a.state is not AlertState.RESOLVED
    }
    fps.update(
        fp for fp, f in matching.items()
        if f.device_id == device_id and f.rule_id not in INHIBITING_RULES
    )
    return len(fps)


def _device_finding(sample: Finding, rule_id: str, status: str, summary: str,
                    inhibit: InhibitConfig) -> Finding:
    return Finding(
        **device_ref(sample),
        rule_id=rule_id,
        subject_kind=SubjectKind.DEVICE,
        subject_id=sample.device_id,
        subject_name=sample.device_name,
        subject_status=status,
        severity=Severity(inhibit.severity),
        summary=summary,
        description="Alerts on this device are muted until it is seen again.",
    )


def inhibited_fingerprints(alerts: Iterable[Alert]) -> frozenset[str]:
    """The alerts muted by a firing device-level silent/gone alert on the same device."""
    pool = list(alerts)
    muting = {
        (a.finding.source, a.finding.device_id)
        for a in pool
        if a.rule_id in INHIBITING_RULES and a.state is AlertState.FIRING
    }
    if not muting:
        return frozenset()
    return frozenset(
        a.fingerprint
        for a in pool
        if a.rule_id not in INHIBITING_RULES and (a.finding.source, a.finding.device_id) in muting
    )
