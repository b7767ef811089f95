"""Rules: the compiled rule the evaluator runs, and how a rule as written is compiled.

A rule as written::

    - id: kandji.library-item.error
      description: A library item failed its audit or install.
      source: kandji              # kandji | applivery | any (default any)
      subject: library_item       # library_item | parameter | device | app | lost_mode
      match:                      # all must hold
        status: ERROR
      unless:                     # any one entry excludes; an entry's conditions all hold
        - device.blueprint_name: {matches: "Lab.*"}
      for: 30m                    # must hold this long before firing (default 0)
      keep_firing_for: 0s         # stays firing this long after it stops matching
      severity: warning           # info | warning | critical (default warning)
      labels: {team: endpoint}    # extra labels for routing
      summary: "{{ subject.name }} is {{ subject.status }} on {{ device.name }}"
      remedy: Open Self Service and run the item again.   # what the device's user can do
      enabled: true
      actions:                    # carried, not executed, by the engine
        - {type: kandji.tag, params: {tag: needs-attention}, on: [first]}

``description`` (optional, recommended) says what the rule checks; it is a template
too: rendered, it becomes the finding's description. ``remedy`` (optional, plain text)
says what to do about it; owner notices quote it under each failing item.

The file model (what a rule file may say, strict) is in :mod:`monitor.engine.spec`.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from monitor.engine.conditions import (
    Condition,
    FieldRef,
    Locator,
    OperandError,
    Scope,
    _device_getter,
    _subject_getter,
    compile_operator,
)
from monitor.engine.fields import (
    DEVICE_FIELDS,
    RULE_SUBJECT_KINDS,
    SUBJECT_FIELDS,
    FieldSpec,
    ValueType,
)
from monitor.engine.spec import ActionSpec, OverrideSpec, RuleSource, RuleSpec
from monitor.engine.templates import (
    SAMPLE_NOW,
    FindingTemplate,
    TemplateCheckError,
    sample_view,
)
from monitor.models import (
    STANDARD_LABELS,
    SUBJECT_FACT,
    FactKind,
    Severity,
    SourceKind,
    SubjectKind,
)

# --------------------------------------------------------------------------- compiled


@dataclass(frozen=True, slots=True)
class Action:
    """A remediation action carried by a rule: its type, parameters and triggers."""

    type: str
    params: Mapping[str, Any]
    on: frozenset[str]


@dataclass(frozen=True, slots=True, eq=False)
class Rule:
    """A compiled rule: validated, predicates built, templates checked.

    ``file`` and ``line`` say where it was defined; ``overridden_by`` lists the files
    whose ``overrides`` changed it.
    """

    id: str
    description: str
    source: RuleSource
    subject: SubjectKind
    match: tuple[Condition, ...]
    unless: tuple[tuple[Condition, ...], ...]
    for_: timedelta
    keep_firing_for: timedelta
    severity: Severity
    labels: Mapping[str, str]
    summary_template: FindingTemplate
    description_template: FindingTemplate
    enabled: bool = True
    actions: tuple[Action, ...] = ()
    file: str = ""
    line: int | None = None
    overridden_by: tuple[str, ...] = field(default=())
    remedy: str = ""

    def applies_to(self, source_kind: SourceKind | str) -> bool:
        """True when the rule is about devices of sources of ``source_kind``.

        A ``source: any`` rule applies to a source kind that reports its subject and
        every field its ``match`` names: a rule on ``filevault.enabled`` is a Kandji rule
        even when written for any source.
        """
        kind = SourceKind(source_kind)
        if self.source != "any":
            return self.source == kind
        if not _subject_reported(self.subject, kind):
            return False
        return all(cond.field.spec.reported_by(kind) for cond in self.match)

    def facts(self, source_kind: SourceKind | str) -> frozenset[FactKind]:
        """The fact kinds this rule reads on sources of ``source_kind`` (empty if not applicable).

        The alert state machine uses it too: a finding of this rule may only resolve
        when every one of these kinds was observed fresh for the device.
        """
        kind = SourceKind(source_kind)
        if not self.applies_to(kind):
            return frozenset()
        needed = {FactKind.DEVICE, SUBJECT_FACT[self.subject]}
        for cond in self.conditions():
            fact = cond.field.spec.facts.get(kind)
            if fact is not None:
                needed.add(fact)
        return frozenset(needed)

    def conditions(self) -> tuple[Condition, ...]:
        """Every condition of ``match`` and ``unless``."""
        return self.match + tuple(c for group in self.unless for c in group)

    @property
    def for_seconds(self) -> float:
        """``for`` in seconds."""
        return self.for_.total_seconds()

    @property
    def keep_firing_for_seconds(self) -> float:
        """``keep_firing_for`` in seconds."""
        return self.keep_firing_for.total_seconds()

    def __repr__(self) -> str:
        return f"Rule({self.id!r}, {self.subject}, {'enabled' if self.enabled else 'disabled'})"


def _subject_reported(kind: SubjectKind, source_kind: SourceKind) -> bool:
    return any(spec.reported_by(source_kind) for spec in SUBJECT_FIELDS[kind].values())


# --------------------------------------------------------------------------- compiling


def resolve_field(path: str, subject: SubjectKind, source: RuleSource) -> FieldRef:
    """Resolve a field path of a rule about ``subject``, or raise OperandError."""
    if path.startswith("device."):
        scope, name, known = Scope.DEVICE, path[len("device.") :], DEVICE_FIELDS
    elif path.startswith("subject."):
        name = path[len("subject.") :]
        scope, known = Scope.SUBJECT, SUBJECT_FIELDS[subject]
    else:
        scope, name, known = Scope.SUBJECT, path, SUBJECT_FIELDS[subject]
    if subject is SubjectKind.DEVICE:
        # The subject of a device rule is the device itself.
        scope = Scope.DEVICE
    spec = known.get(name)
    if spec is None:
        whose = "device" if known is DEVICE_FIELDS else f"{subject} subject"
        hint = difflib.get_close_matches(name, list(known), n=1)
        also = f"; did you mean {hint[0]!r}?" if hint else ""
        raise OperandError(f"unknown {whose} field {name!r}{also}")
    if source != "any" and not spec.reported_by(SourceKind(source)):
        raise OperandError(f"{source} sources do not report {path!r}")
    if source == "any" and not spec.facts:
        raise OperandError(f"no source reports {path!r}")
    get = _device_getter(name) if scope is Scope.DEVICE else _subject_getter(name)
    return FieldRef(path=path, scope=scope, name=name, spec=spec, get=get)


def compile_conditions(
    conditions: Mapping[str, Any],
    subject: SubjectKind,
    source: RuleSource,
    where: Locator,
    path: tuple[str | int, ...],
) -> tuple[Condition, ...]:
    """Compile a ``match`` mapping (or one ``unless`` entry) into conditions."""
    if not isinstance(conditions, Mapping) or not conditions:
        raise where.error(path, "expected a mapping of field: condition with at least one entry")
    out: list[Condition] = []
    for field_path, spec in conditions.items():
        fpath = (*path, field_path)
        try:
            ref = resolve_field(field_path, subject, source)
        except OperandError as exc:
            raise where.error(fpath, str(exc)) from None
        for op, operand, opath in _operators(spec, ref.spec, where, fpath):
            try:
                predicate, if_missing = compile_operator(op, operand, ref.spec.type)
            except OperandError as exc:
                raise where.error(opath, str(exc)) from None
            out.append(
                Condition(
                    field=ref,
                    op=op,
                    operand=operand,
                    predicate=predicate,
                    if_missing=if_missing,
                    key_path=".".join(str(p) for p in opath),
                    line=where.lines.line(opath),
                )
            )
    return tuple(out)


def _operators(
    spec: Any, fspec: FieldSpec, where: Locator, path: tuple[str | int, ...]
) -> list[tuple[str, Any, tuple[str | int, ...]]]:
    """The (operator, operand, key path) pairs of one field's condition, shorthands expanded."""
    if isinstance(spec, dict):
        if not spec:
            raise where.error(path, "empty condition: give an operator such as {eq: VALUE}")
        return [(str(op), operand, (*path, op)) for op, operand in spec.items()]
    if spec is None:
        raise where.error(path, "null is not a value; to test for a missing fact, {exists: false}")
    if isinstance(spec, list):
        if fspec.type is ValueType.LIST:
            raise where.error(path, "a list field takes {contains: VALUE}, not a list")
        return [("in", spec, path)]
    return [("eq", spec, path)]


def compile_unless(
    entries: Sequence[Any],
    subject: SubjectKind,
    source: RuleSource,
    where: Locator,
    path: tuple[str | int, ...],
) -> tuple[tuple[Condition, ...], ...]:
    """Compile ``unless`` entries: each is a mapping whose conditions must all hold."""
    return tuple(
        compile_conditions(entry, subject, source, where, (*path, i))
        for i, entry in enumerate(entries)
    )


def default_summary(subject: SubjectKind) -> str:
    """The summary of a rule that gives none."""
    if subject is SubjectKind.DEVICE:
        return "{{ device.name }}: {{ rule.description or rule.id }}"
    return "{{ subject.name }} is {{ subject.status }} on {{ device.name }}"


def template_context(
    device: Any, subject: Any, rule: Rule | Mapping[str, Any], now: Any
) -> dict[str, Any]:
    """The names a rule's templates see."""
    return {"device": device, "subject": subject, "rule": _rule_context(rule), "now": now}


def _rule_context(rule: Rule | Mapping[str, Any]) -> Mapping[str, Any]:
    if not isinstance(rule, Rule):
        return rule
    return rule_context(
        rule.id, rule.description, rule.severity, rule.source, rule.subject, rule.labels
    )


def rule_context(
    rule_id: str,
    description: str,
    severity: str,
    source: str,
    subject: str,
    labels: Mapping[str, str],
) -> dict[str, Any]:
    """What a rule's templates see as ``rule``."""
    return {
        "id": rule_id,
        "description": description,
        "severity": str(severity),
        "source": source,
        "subject": str(subject),
        "labels": dict(labels),
    }


def compile_template(
    text: str,
    subject: SubjectKind,
    rule_context: Mapping[str, Any],
    where: Locator,
    path: tuple[str | int, ...],
) -> FindingTemplate:
    """Compile a template and render it against a sample, or raise a RuleError at ``path``."""
    try:
        template = FindingTemplate(text)
        device = sample_view(DEVICE_FIELDS)
        subj = device if subject is SubjectKind.DEVICE else sample_view(SUBJECT_FIELDS[subject])
        template.check(template_context(device, subj, rule_context, SAMPLE_NOW))
    except TemplateCheckError as exc:
        raise where.error(path, str(exc)) from None
    return template


def compile_rule(spec: RuleSpec, where: Locator, path: tuple[str | int, ...]) -> Rule:
    """Compile a validated rule: fields resolved, operators built, templates checked."""
    subject = SubjectKind(spec.subject)
    if subject not in RULE_SUBJECT_KINDS:  # pragma: no cover - the Literal forbids it
        raise where.error((*path, "subject"), f"a rule cannot be about {subject}")
    if spec.source != "any" and not _subject_reported(subject, SourceKind(spec.source)):
        raise where.error((*path, "subject"), f"{spec.source} sources report no {subject} facts")
    _check_labels(spec.labels, where, (*path, "labels"))
    match = compile_conditions(spec.match, subject, spec.source, where, (*path, "match"))
    unless = compile_unless(spec.unless, subject, spec.source, where, (*path, "unless"))
    context = rule_context(
        spec.id, spec.description, spec.severity, spec.source, spec.subject, spec.labels
    )
    summary = compile_template(
        spec.summary if spec.summary is not None else default_summary(subject),
        subject,
        context,
        where,
        (*path, "summary"),
    )
    description = compile_template(
        spec.description, subject, context, where, (*path, "description")
    )
    return Rule(
        id=spec.id,
        description=spec.description,
        source=spec.source,
        subject=subject,
        match=match,
        unless=unless,
        for_=spec.for_,
        keep_firing_for=spec.keep_firing_for,
        severity=Severity(spec.severity),
        labels=MappingProxyType(dict(spec.labels)),
        summary_template=summary,
        description_template=description,
        enabled=spec.enabled,
        actions=tuple(compile_action(a) for a in spec.actions),
        remedy=spec.remedy.strip(),
        file=where.file,
        line=where.lines.line(path),
    )


def compile_action(spec: ActionSpec) -> Action:
    """The carried form of an action spec."""
    return Action(type=spec.type, params=MappingProxyType(dict(spec.params)), on=frozenset(spec.on))


def _check_labels(labels: Mapping[str, str], where: Locator, path: tuple[str | int, ...]) -> None:
    for name in labels:
        if name in STANDARD_LABELS:
            raise where.error((*path, name), f"{name!r} is a standard label set by the engine")
        if not name.replace("_", "a").isalnum() or not name[:1].isalpha():
            raise where.error((*path, name), "a label name is letters, digits and _ (letter first)")


def apply_override(
    rule: Rule, spec: OverrideSpec, where: Locator, path: tuple[str | int, ...]
) -> Rule:
    """``rule`` changed by an override entry (see :class:`OverrideSpec`)."""
    changes: dict[str, Any] = {}
    if spec.enabled is not None:
        changes["enabled"] = spec.enabled
    if spec.severity is not None:
        changes["severity"] = Severity(spec.severity)
    if spec.for_ is not None:
        changes["for_"] = spec.for_
    if spec.keep_firing_for is not None:
        changes["keep_firing_for"] = spec.keep_firing_for
    if spec.actions is not None:
        changes["actions"] = tuple(compile_action(a) for a in spec.actions)
    if spec.remedy is not None:
        changes["remedy"] = spec.remedy.strip()
    if spec.labels:
        _check_labels(spec.labels, where, (*path, "labels"))
        changes["labels"] = MappingProxyType({**rule.labels, **spec.labels})
    if spec.match:
        added = compile_conditions(spec.match, rule.subject, rule.source, where, (*path, "match"))
        replaced = {(c.field.scope, c.field.name) for c in added}
        kept = tuple(c for c in rule.match if (c.field.scope, c.field.name) not in replaced)
        changes["match"] = kept + added
    if spec.unless:
        changes["unless"] = rule.unless + compile_unless(
            spec.unless, rule.subject, rule.source, where, (*path, "unless")
        )
    description = spec.description if spec.description is not None else rule.description
    context = rule_context(
        rule.id, description, changes.get("severity", rule.severity), rule.source,
        rule.subject, changes.get("labels", rule.labels),
    )
    if spec.description is not None:
        changes["description"] = spec.description
        changes["description_template"] = compile_template(
            spec.description, rule.subject, context, where, (*path, "description")
        )
    if spec.summary is not None:
        changes["summary_template"] = compile_template(
            spec.summary, rule.subject, context, where, (*path, "summary")
        )
    changes["overridden_by"] = (*rule.overridden_by, where.file)
    return dataclasses.replace(rule, **changes)
