"""Evaluation: facts + rules + now -> findings. Pure: no I/O, no clock, no event loop.

``subjects`` maps a subject kind to the subjects a sweep observed on the device. A
kind that is absent was not fetched; an empty list means fetched, and none. Rules about
``device`` need no entry: the device is their subject. Findings of device rules have
the device as subject (``subject_id`` is the device id).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from monitor.engine.conditions import Condition
from monitor.engine.fields import catalogue
from monitor.engine.rules import Rule, template_context
from monitor.engine.ruleset import RuleSet
from monitor.engine.templates import FactsView
from monitor.models import Device, Finding, Subject, SubjectKind

Facts = Mapping[SubjectKind, Sequence[Subject]]


def _check_now(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime (UTC)")


def evaluate_device(
    ruleset: RuleSet, device: Device, subjects: Facts, now: datetime
) -> list[Finding]:
    """Every finding of the enabled rules on one device and its subjects at ``now``."""
    _check_now(now)
    return _evaluate_device(ruleset, device, subjects, now)


def _evaluate_device(
    ruleset: RuleSet, device: Device, subjects: Facts, now: datetime
) -> list[Finding]:
    found: list[Finding] = []
    device_ok: dict[int, bool] = {}
    for plan in ruleset.plan(device.source_kind):
        if plan.kind is SubjectKind.DEVICE:
            for ex in plan.execs:
                if ex.device_passes(device, now) and ex.subject_passes(device, None, now):
                    found.append(make_finding(ex.rule, device, None, now))
            continue
        observed = subjects.get(plan.kind)
        if not observed:
            continue
        memo, candidates = plan.memo, plan.candidates
        for subject in observed:
            key = (subject.status, subject.type)
            execs = memo.get(key)
            if execs is None:
                execs = candidates(*key)
            for ex in execs:
                ok = device_ok.get(ex.index)
                if ok is None:
                    ok = device_ok[ex.index] = ex.device_passes(device, now)
                if ok and ex.subject_passes(device, subject, now):
                    found.append(make_finding(ex.rule, device, subject, now))
    return found


def evaluate(
    ruleset: RuleSet, facts: Iterable[tuple[Device, Facts]], now: datetime
) -> list[Finding]:
    """Every finding over many devices (the sweep's output) at one ``now``."""
    _check_now(now)
    found: list[Finding] = []
    for device, subjects in facts:
        found.extend(_evaluate_device(ruleset, device, subjects, now))
    return found


def rule_matches(rule: Rule, device: Device, subject: Subject | None, now: datetime) -> bool:
    """True when ``rule``'s match holds and no unless entry excludes (enabled or not)."""
    for cond in rule.match:
        if not cond.holds(device, subject, now):
            return False
    return not any(all(c.holds(device, subject, now) for c in group) for group in rule.unless)


def evaluate_subject(
    rule: Rule, device: Device, subject: Subject | None, now: datetime
) -> Finding | None:
    """The finding of one rule on one subject, or None (for incremental callers).

    ``subject`` is None for device rules. A disabled rule, a rule for another source
    kind, or a subject of another kind gives None.
    """
    _check_now(now)
    if not rule.enabled or not rule.applies_to(device.source_kind):
        return None
    if rule.subject is SubjectKind.DEVICE:
        subject = None
    elif subject is None or subject.kind is not rule.subject:
        return None
    if not rule_matches(rule, device, subject, now):
        return None
    return make_finding(rule, device, subject, now)


# --------------------------------------------------------------------------- findings


def device_view(device: Device) -> FactsView:
    """The template view of a device."""
    # The catalogue as it is now, taken once per view rather than at every name a
    # template reads (the live mappings look the registry up on each access).
    return FactsView(device.field, catalogue().device)


def subject_view(subject: Subject) -> FactsView:
    """The template view of a subject."""
    return FactsView(subject.field, catalogue().subjects[subject.kind])


def finding_labels(rule: Rule, device: Device, subject_kind: SubjectKind) -> dict[str, str]:
    """A finding's labels: the rule's, then the standard ones routes can match on."""
    return {
        **rule.labels,
        "rule_id": rule.id,
        "severity": str(rule.severity),
        "source": device.source,
        "source_kind": str(device.source_kind),
        "subject_kind": str(subject_kind),
        "platform": device.platform,
        "blueprint": device.blueprint_name,
    }


#: Label sets already built, by what they are made of. A sweep's findings share a few
#: hundred label sets at most (rule x source x platform x blueprint), so each finding
#: holds one of those read-only mappings instead of a dict of its own. Bounded: cleared
#: when it grows past :data:`LABEL_SETS_MAX`.
_label_sets: dict[tuple[object, ...], Mapping[str, str]] = {}
LABEL_SETS_MAX = 10_000


def shared_labels(rule: Rule, device: Device, subject_kind: SubjectKind) -> Mapping[str, str]:
    """:func:`finding_labels` as a read-only mapping shared by equal label sets."""
    # A rule is immutable and hashed by identity: it stands for its id, severity and labels.
    key = (rule, device.source, device.source_kind, subject_kind, device.platform,
           device.blueprint_name)
    labels = _label_sets.get(key)
    if labels is None:
        if len(_label_sets) >= LABEL_SETS_MAX:
            _label_sets.clear()
        labels = _label_sets[key] = MappingProxyType(finding_labels(rule, device, subject_kind))
    return labels


def make_finding(rule: Rule, device: Device, subject: Subject | None, now: datetime) -> Finding:
    """The finding of ``rule`` matching ``subject`` (None: the device itself) at ``now``."""
    dview = device_view(device)
    if subject is None:
        kind, sid, sname, sstatus, sview = (
            SubjectKind.DEVICE,
            device.device_id,
            device.name,
            "",
            dview,
        )
    else:
        kind, sid, sname, sstatus = subject.kind, subject.id, subject.name, subject.status
        sview = subject_view(subject)
    context = template_context(dview, sview, rule, now)
    fallback = f"{rule.id}: {sname} on {device.name}" if subject else f"{rule.id}: {device.name}"
    return Finding(
        source=device.source,
        source_kind=device.source_kind,
        device_id=device.device_id,
        device_name=device.name,
        device_serial=device.serial,
        rule_id=rule.id,
        subject_kind=kind,
        subject_id=sid,
        subject_name=sname,
        subject_status=sstatus,
        severity=rule.severity,
        summary=rule.summary_template.render(context, fallback),
        description=rule.description_template.render(context, rule.description),
        labels=shared_labels(rule, device, kind),
        for_seconds=rule.for_seconds,
        keep_firing_for_seconds=rule.keep_firing_for_seconds,
        owner=device.user_email,
        detail=_detail(subject),
        remedy=rule.remedy,
    )


#: How much of an item's audit or log text a finding keeps.
DETAIL_MAX_CHARS = 500


def _detail(subject: Subject | None) -> str:
    """The subject's last audit log (or log) text, its last lines cut to a bound."""
    if subject is None:
        return ""
    for name in ("last_audit_log", "log", "control_log"):
        value = subject.attrs.get(name)
        if isinstance(value, str) and value.strip():
            text = value.strip()
            return text if len(text) <= DETAIL_MAX_CHARS else "…" + text[-DETAIL_MAX_CHARS:]
    return ""


# --------------------------------------------------------------------------- explain


class Verdict(StrEnum):
    """What a rule made of a device or a subject."""

    MATCH = "match"  # every match condition holds and nothing excludes it
    NO_MATCH = "no_match"  # some match condition fails
    EXCLUDED = "excluded"  # match holds, but an unless entry excludes it
    DISABLED = "disabled"  # the rule is switched off
    NOT_APPLICABLE = "not_applicable"  # the rule is for another source kind
    NO_FACTS = "no_facts"  # the subjects the rule is about were not fetched


@dataclass(frozen=True, slots=True)
class SubjectExplanation:
    """One rule on one subject: verdict and the condition lines that decided it."""

    subject_kind: SubjectKind
    subject_id: str
    subject_name: str
    subject_status: str
    verdict: Verdict
    reasons: tuple[str, ...]
    finding: Finding | None = None


@dataclass(frozen=True, slots=True)
class RuleExplanation:
    """One rule on one device: overall verdict, a reason, and per subject detail."""

    rule_id: str
    verdict: Verdict
    reason: str
    subjects: tuple[SubjectExplanation, ...] = ()

    @property
    def findings(self) -> tuple[Finding, ...]:
        """The findings this rule produced on the device."""
        return tuple(s.finding for s in self.subjects if s.finding is not None)


def _explain_conditions(
    conditions: Sequence[Condition], device: Device, subject: Subject | None, now: datetime
) -> tuple[bool, list[str]]:
    lines: list[str] = []
    ok = True
    for cond in conditions:
        held, line = cond.explain(device, subject, now)
        lines.append(line)
        ok = ok and held
    return ok, lines


def _explain_subject(
    rule: Rule, device: Device, subject: Subject | None, now: datetime
) -> SubjectExplanation:
    matched, lines = _explain_conditions(rule.match, device, subject, now)
    verdict = Verdict.MATCH if matched else Verdict.NO_MATCH
    if matched:
        for i, group in enumerate(rule.unless):
            excluded, group_lines = _explain_conditions(group, device, subject, now)
            if excluded:
                verdict = Verdict.EXCLUDED
                lines.append(f"excluded by unless[{i}]: " + "; ".join(group_lines))
                break
    finding = make_finding(rule, device, subject, now) if verdict is Verdict.MATCH else None
    if subject is None:
        kind, sid, sname, sstatus = SubjectKind.DEVICE, device.device_id, device.name, ""
    else:
        kind, sid, sname, sstatus = subject.kind, subject.id, subject.name, subject.status
    return SubjectExplanation(kind, sid, sname, sstatus, verdict, tuple(lines), finding)


def explain_rule(rule: Rule, device: Device, subjects: Facts, now: datetime) -> RuleExplanation:
    """Why ``rule`` does or does not produce findings on ``device``."""
    _check_now(now)
    if not rule.enabled:
        return RuleExplanation(rule.id, Verdict.DISABLED, "the rule is disabled")
    if not rule.applies_to(device.source_kind):
        return RuleExplanation(
            rule.id,
            Verdict.NOT_APPLICABLE,
            f"the rule is for {rule.source} sources; this device is from {device.source_kind}",
        )
    observed: Sequence[Subject | None]
    if rule.subject is SubjectKind.DEVICE:
        observed = [None]
    else:
        if rule.subject not in subjects:
            return RuleExplanation(
                rule.id, Verdict.NO_FACTS, f"no {rule.subject} facts were fetched for this device"
            )
        observed = subjects[rule.subject]
        if not observed:
            return RuleExplanation(rule.id, Verdict.NO_MATCH, f"the device has no {rule.subject}")
    details = tuple(_explain_subject(rule, device, s, now) for s in observed)
    verdicts = {d.verdict for d in details}
    n = sum(1 for d in details if d.verdict is Verdict.MATCH)
    if Verdict.MATCH in verdicts:
        return RuleExplanation(rule.id, Verdict.MATCH, f"{n} of {len(details)} match", details)
    if Verdict.EXCLUDED in verdicts:
        excluded = sum(1 for d in details if d.verdict is Verdict.EXCLUDED)
        return RuleExplanation(
            rule.id, Verdict.EXCLUDED, f"{excluded} of {len(details)} excluded by unless", details
        )
    first = next((line for d in details for line in d.reasons if line.endswith("fails")), "")
    return RuleExplanation(rule.id, Verdict.NO_MATCH, first or "no subject matches", details)


def explain(
    ruleset: RuleSet, device: Device, subjects: Facts, now: datetime
) -> list[RuleExplanation]:
    """Per rule (enabled or not, file order), whether and why it matches ``device``."""
    return [explain_rule(rule, device, subjects, now) for rule in ruleset.rules]
