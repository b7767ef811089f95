"""A set of compiled rules, and the evaluation plan built from it once.

The plan is what makes evaluation cheap at fleet scale. Per source kind and subject
kind it keeps the enabled rules in an index keyed by subject status and type: a rule
whose ``match`` says ``status: ERROR`` or ``type: {in: [...]}`` is only tried on
subjects with those values, so the usual ``PASS`` subject costs one dict lookup. Each
rule's conditions are split once into the ones that read only the device (tried once
per device, then cached for all its subjects) and the ones that read the subject.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.engine.conditions import Condition, Scope
from monitor.engine.rules import Rule
from monitor.models import Device, FactKind, SourceKind, Subject, SubjectKind


@dataclass(frozen=True, slots=True)
class _Exec:
    """One enabled rule, prepared for the hot loop."""

    rule: Rule
    index: int
    device_conditions: tuple[Condition, ...]
    subject_conditions: tuple[Condition, ...]
    device_unless: tuple[tuple[Condition, ...], ...]
    subject_unless: tuple[tuple[Condition, ...], ...]
    statuses: frozenset[str] | None
    types: frozenset[str] | None

    def device_passes(self, device: Device, now: datetime) -> bool:
        """The device-only part: match conditions hold and no device-only unless excludes."""
        return _passes(self.device_conditions, self.device_unless, device, None, now)

    def subject_passes(self, device: Device, subject: Subject | None, now: datetime) -> bool:
        """The subject part: the rest of match holds and no other unless entry excludes."""
        return _passes(self.subject_conditions, self.subject_unless, device, subject, now)


def _passes(
    match: tuple[Condition, ...],
    unless: tuple[tuple[Condition, ...], ...],
    device: Device,
    subject: Subject | None,
    now: datetime,
) -> bool:
    """Every ``match`` condition holds and no ``unless`` entry holds whole."""
    # Plain loops: this runs for every candidate rule on every subject, and generator
    # expressions cost a frame each.
    for cond in match:
        if not cond.holds(device, subject, now):
            return False
    for group in unless:
        for cond in group:
            if not cond.holds(device, subject, now):
                break
        else:
            return False
    return True


def _key_index(rule: Rule, name: str) -> tuple[frozenset[str] | None, Condition | None]:
    """The values of subject field ``name`` a rule can only match, and the condition saying so.

    Only ``eq``/``in`` on the plain subject field qualify. The empty string is left out:
    it is a missing fact, which no condition matches.
    """
    if rule.subject is SubjectKind.DEVICE:
        return None, None
    for cond in rule.match:
        if cond.field.scope is Scope.SUBJECT and cond.field.name == name:
            if cond.op == "eq":
                return frozenset({str(cond.operand)}) - {""}, cond
            if cond.op == "in":
                return frozenset(str(v) for v in cond.operand) - {""}, cond
    return None, None


def _prepare(rule: Rule, index: int) -> _Exec:
    statuses, by_status = _key_index(rule, "status")
    types, by_type = _key_index(rule, "type")
    rest = tuple(c for c in rule.match if c is not by_status and c is not by_type)
    return _Exec(
        rule=rule,
        index=index,
        device_conditions=tuple(c for c in rest if c.device_only),
        subject_conditions=tuple(c for c in rest if not c.device_only),
        device_unless=tuple(g for g in rule.unless if all(c.device_only for c in g)),
        subject_unless=tuple(g for g in rule.unless if not all(c.device_only for c in g)),
        statuses=statuses,
        types=types,
    )


class _KindPlan:
    """The rules of one subject kind, looked up by the subject's (status, type).

    Rules whose ``match`` pins the status and/or the type with ``eq``/``in`` are only
    candidates for subjects with those values; the candidate tuple of each (status,
    type) pair is computed once and memoised (a fleet has few distinct pairs).
    """

    __slots__ = ("execs", "kind", "memo")

    def __init__(self, kind: SubjectKind, execs: Sequence[_Exec]) -> None:
        self.kind = kind
        self.execs = tuple(execs)
        self.memo: dict[tuple[str, str], tuple[_Exec, ...]] = {}

    def candidates(self, status: str, type_: str) -> tuple[_Exec, ...]:
        """The rules worth trying on a subject with this status and type."""
        key = (status, type_)
        hit = self.memo.get(key)
        if hit is None:
            hit = self.memo[key] = tuple(
                e
                for e in self.execs
                if (e.statuses is None or status in e.statuses)
                and (e.types is None or type_ in e.types)
            )
        return hit


class RuleSet:
    """The loaded rules (enabled or not) and the plan to evaluate the enabled ones.

    ``rules`` keeps file order; ``files`` lists the files they came from.
    """

    def __init__(self, rules: Sequence[Rule], files: Sequence[str] = ()) -> None:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"two rules have the id {rule.id!r}")
            seen.add(rule.id)
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.files: tuple[str, ...] = tuple(files)
        self._by_id = {r.id: r for r in self.rules}
        self._execs = tuple(_prepare(r, i) for i, r in enumerate(self.rules) if r.enabled)
        self._plans: dict[SourceKind, tuple[_KindPlan, ...]] = {}

    def _build_plan(self, source_kind: SourceKind) -> tuple[_KindPlan, ...]:
        by_kind: dict[SubjectKind, list[_Exec]] = {}
        for ex in self._execs:
            if ex.rule.applies_to(source_kind):
                by_kind.setdefault(ex.rule.subject, []).append(ex)
        return tuple(_KindPlan(kind, execs) for kind, execs in by_kind.items())

    def plan(self, source_kind: SourceKind | str) -> tuple[_KindPlan, ...]:
        """The evaluation plan for devices of ``source_kind`` (internal to the engine)."""
        kind = SourceKind(source_kind)
        plan = self._plans.get(kind)
        if plan is None:
            plan = self._plans[kind] = self._build_plan(kind)
        return plan

    @property
    def enabled(self) -> tuple[Rule, ...]:
        """The enabled rules, in file order."""
        return tuple(ex.rule for ex in self._execs)

    def rule(self, rule_id: str) -> Rule:
        """The rule with id ``rule_id`` (KeyError if none)."""
        return self._by_id[rule_id]

    def get(self, rule_id: str) -> Rule | None:
        """The rule with id ``rule_id``, or None."""
        return self._by_id.get(rule_id)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._by_id

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def needs(self, source_kind: SourceKind | str) -> frozenset[FactKind]:
        """The fact kinds the enabled rules read on sources of ``source_kind``.

        Always includes ``FactKind.DEVICE`` (the device list). Library items only when
        a library_item rule is enabled, parameters only for parameter rules, details
        only when a rule names a details field (``filevault.enabled`` ...), and so on.
        """
        kind = SourceKind(source_kind)
        needed = {FactKind.DEVICE}
        for ex in self._execs:
            needed |= ex.rule.facts(kind)
        return frozenset(needed)

    def facts_of(self, rule_id: str, source_kind: SourceKind | str) -> frozenset[FactKind]:
        """The fact kinds one rule reads on ``source_kind`` (for hold-or-resolve decisions)."""
        return self.rule(rule_id).facts(source_kind)

    def __repr__(self) -> str:
        return f"RuleSet({len(self.rules)} rules, {len(self._execs)} enabled)"
