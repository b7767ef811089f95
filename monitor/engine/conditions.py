"""Conditions: one field, one operator, one operand, compiled once into a predicate.

A condition as written in a rule file::

    status: ERROR                        # shorthand for {eq: ERROR}
    status: [ERROR, failed]              # shorthand for {in: [...]}
    device.os_version: {ge: "14", lt: "15"}   # several operators: all must hold

Operators and the field types they accept:

============  ==========================================  ===========================
operator      meaning                                     field types
============  ==========================================  ===========================
eq, ne        equal / not equal                           string, boolean, number,
                                                          version, timestamp
in, not_in    one of / none of a non-empty list           as eq
matches,      the whole value matches a regex (RE2,       string, version, list (any
not_matches   :mod:`monitor.patterns`); checked at load   element / no element)
contains,     list membership, or substring of a string   list, string
not_contains
lt le gt ge   ordered comparison                          number, version, timestamp
older_than,   timestamp before / after ``now - duration`` timestamp
newer_than
exists        ``true``: the fact is known; ``false``:     any
              it is not
============  ==========================================  ===========================

Versions compare numerically part by part (``14.10 > 14.9``, ``14 == 14.0.0``); write
them as strings (``"14.10"``), since YAML reads ``14.10`` as the float 14.1.

Missing facts: a fact that is ``None`` or ``""`` (or cannot be read as the field's
type) is *unknown*, and every operator except ``exists`` is false on an unknown fact,
the negative ones (``ne``, ``not_in``, ``not_matches``, ``not_contains``) included. A
rule therefore never fires, and an ``unless`` never excludes, on data the source did
not report. To act on a missing fact, say so: ``exists: false``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from monitor.config import parse_duration
from monitor.engine.fields import FieldSpec, ValueType
from monitor.engine.values import (
    as_bool,
    as_list,
    as_number,
    as_str,
    as_timestamp,
    as_version,
    is_missing,
)
from monitor.errors import RuleError
from monitor.models import Device, Subject
from monitor.patterns import Pattern, PatternError, compile_pattern

Predicate = Callable[[Any, datetime], bool]
"""Tests a known (non-missing) raw fact value against an operand, given ``now``."""


class LineIndex(Protocol):
    """Anything that knows the line of a key path (``monitor.config.parse_yaml``'s index)."""

    def line(self, path: Sequence[str | int]) -> int | None:
        """The line of ``path``, or of its closest parent that has one."""
        ...


@dataclass(frozen=True, slots=True)
class Locator:
    """Where in which file a piece of a rule was written, to build errors that say so."""

    file: str
    lines: LineIndex

    def error(self, path: Sequence[str | int], reason: str) -> RuleError:
        """A :class:`RuleError` naming the file, the line and the key path of ``path``."""
        key_path = ".".join(str(p) for p in path)
        return RuleError(self.file, key_path, reason, line=self.lines.line(path))


class Scope(StrEnum):
    """Whose field a condition reads."""

    DEVICE = "device"
    SUBJECT = "subject"


@dataclass(frozen=True, slots=True)
class FieldRef:
    """A resolved field path: whose field, which one, and its spec."""

    path: str
    scope: Scope
    name: str
    spec: FieldSpec
    get: Callable[[Device, Subject | None], Any]


def _device_getter(name: str) -> Callable[[Device, Subject | None], Any]:
    if name in Device.__dataclass_fields__ and name != "attrs":
        get_attr = operator.attrgetter(name)
        return lambda device, subject: get_attr(device)
    return lambda device, subject: device.attrs.get(name)


def _subject_getter(name: str) -> Callable[[Device, Subject | None], Any]:
    if name in Subject.__dataclass_fields__ and name != "attrs":
        get_attr = operator.attrgetter(name)
        return lambda device, subject: None if subject is None else get_attr(subject)
    return lambda device, subject: None if subject is None else subject.attrs.get(name)


def device_getter(name: str) -> Callable[[Device], Any]:
    """A fast reader of one device field (a dataclass attribute or an ``attrs`` key)."""
    get = _device_getter(name)
    return lambda device: get(device, None)


# --------------------------------------------------------------------------- operators


OPERATORS: tuple[str, ...] = (
    "eq",
    "ne",
    "in",
    "not_in",
    "matches",
    "not_matches",
    "contains",
    "not_contains",
    "lt",
    "le",
    "gt",
    "ge",
    "older_than",
    "newer_than",
    "exists",
)

_ORDERED_TYPES = (ValueType.NUMBER, ValueType.VERSION, ValueType.TIMESTAMP)

_COERCE: dict[ValueType, Callable[[Any], Any]] = {
    ValueType.STR: as_str,
    ValueType.BOOL: as_bool,
    ValueType.NUMBER: as_number,
    ValueType.VERSION: as_version,
    ValueType.TIMESTAMP: as_timestamp,
    ValueType.LIST: as_list,
}

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


class OperandError(ValueError):
    """An operand does not suit its operator or field; the loader adds file and line."""


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, list | dict):
        return "a list" if isinstance(value, list) else "a mapping"
    return repr(value)


def _scalar_operand(value: Any, vtype: ValueType) -> Any:
    """The operand, read as a value of ``vtype``, or OperandError."""
    if vtype is ValueType.STR:
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise OperandError(f"expected a string, got {_type_name(value)} (quote it)")
    if vtype is ValueType.BOOL:
        if isinstance(value, bool):
            return value
        raise OperandError(f"expected true or false, got {_type_name(value)}")
    if vtype is ValueType.NUMBER:
        number = as_number(value) if not isinstance(value, str) else None
        if number is None:
            raise OperandError(f"expected a number, got {_type_name(value)}")
        return number
    if vtype is ValueType.VERSION:
        if isinstance(value, float):
            raise OperandError(f"write versions as strings: '{value}' (YAML reads 14.10 as 14.1)")
        version = as_version(value)
        if version is None:
            raise OperandError(f"expected a version such as '14.4.1', got {_type_name(value)}")
        return version
    if vtype is ValueType.TIMESTAMP:
        stamp = as_timestamp(value) if isinstance(value, str | datetime | date) else None
        if stamp is None:
            raise OperandError(
                f"expected a timestamp such as 2026-01-31T00:00:00Z, got {_type_name(value)}"
            )
        return stamp
    raise OperandError(f"a {vtype} field cannot be compared with eq/in; use contains")


def _regex(value: Any) -> Pattern:
    if not isinstance(value, str):
        raise OperandError(f"expected a regular expression string, got {_type_name(value)}")
    try:
        return compile_pattern(value)
    except PatternError as exc:
        raise OperandError(f"{value!r}: {exc}") from None


def _needs_type(op: str, vtype: ValueType, allowed: Sequence[ValueType]) -> None:
    if vtype not in allowed:
        kinds = ", ".join(str(t) for t in allowed)
        raise OperandError(f"{op} does not apply to a {vtype} field (only {kinds})")


def compile_operator(op: str, operand: Any, vtype: ValueType) -> tuple[Predicate, bool]:
    """Compile ``op operand`` for a field of type ``vtype``.

    Returns the predicate for known values and the result for an unknown value (true
    only for ``exists: false``). Raises :class:`OperandError` when the operator is
    unknown or the operand does not suit it.
    """
    coerce = _COERCE[vtype]

    if op == "exists":
        if not isinstance(operand, bool):
            raise OperandError(f"exists takes true or false, got {_type_name(operand)}")
        want = operand
        return (lambda value, now: want), not want

    if op in ("eq", "ne"):
        expected = _scalar_operand(operand, vtype)
        if op == "eq":
            return (lambda value, now: coerce(value) == expected), False

        def not_equal(value: Any, now: datetime) -> bool:
            have = coerce(value)
            return have is not None and have != expected

        return not_equal, False

    if op in ("in", "not_in"):
        if not isinstance(operand, list) or not operand:
            raise OperandError(f"{op} takes a non-empty list, got {_type_name(operand)}")
        choices = frozenset(_scalar_operand(v, vtype) for v in operand)
        if op == "in":
            return (lambda value, now: coerce(value) in choices), False

        def not_in(value: Any, now: datetime) -> bool:
            have = coerce(value)
            return have is not None and have not in choices

        return not_in, False

    if op in ("matches", "not_matches"):
        _needs_type(op, vtype, (ValueType.STR, ValueType.VERSION, ValueType.LIST))
        search = _regex(operand).matches
        if vtype is ValueType.LIST:

            def any_matches(value: Any) -> bool | None:
                items = as_list(value)
                return None if items is None else any(search(i) for i in items)

            if op == "matches":
                return (lambda value, now: any_matches(value) is True), False
            return (lambda value, now: any_matches(value) is False), False

        def text_matches(value: Any) -> bool | None:
            text = as_str(value)
            return None if text is None else search(text)

        if op == "matches":
            return (lambda value, now: text_matches(value) is True), False
        return (lambda value, now: text_matches(value) is False), False

    if op in ("contains", "not_contains"):
        _needs_type(op, vtype, (ValueType.LIST, ValueType.STR))
        if not isinstance(operand, str):
            raise OperandError(f"{op} takes a string, got {_type_name(operand)}")
        needle = operand

        def contains(value: Any) -> bool | None:
            have = coerce(value)
            return None if have is None else needle in have

        if op == "contains":
            return (lambda value, now: contains(value) is True), False
        return (lambda value, now: contains(value) is False), False

    if op in _ORDER:
        _needs_type(op, vtype, _ORDERED_TYPES)
        bound = _scalar_operand(operand, vtype)
        compare = _ORDER[op]

        def ordered(value: Any, now: datetime) -> bool:
            have = coerce(value)
            return have is not None and compare(have, bound)

        return ordered, False

    if op in ("older_than", "newer_than"):
        _needs_type(op, vtype, (ValueType.TIMESTAMP,))
        try:
            age = parse_duration(operand)
        except ValueError as exc:
            raise OperandError(str(exc)) from None
        if age <= timedelta(0):
            raise OperandError(f"{op} needs a positive duration")
        if op == "older_than":

            def older(value: Any, now: datetime) -> bool:
                stamp = as_timestamp(value)
                return stamp is not None and stamp < now - age

            return older, False

        def newer(value: Any, now: datetime) -> bool:
            stamp = as_timestamp(value)
            return stamp is not None and stamp > now - age

        return newer, False

    raise OperandError(f"unknown operator {op!r} (known: {', '.join(OPERATORS)})")


# --------------------------------------------------------------------------- conditions


@dataclass(frozen=True, slots=True)
class Condition:
    """One compiled ``field op operand`` test, with where it was written."""

    field: FieldRef
    op: str
    operand: Any
    predicate: Predicate
    if_missing: bool
    key_path: str
    line: int | None

    def holds(self, device: Device, subject: Subject | None, now: datetime) -> bool:
        """True when the condition holds for this device and subject at ``now``."""
        value = self.field.get(device, subject)
        if is_missing(value):
            return self.if_missing
        return self.predicate(value, now)

    @property
    def text(self) -> str:
        """The condition as a rule author would write it."""
        return f"{self.field.path} {self.op} {_show(self.operand)}"

    def explain(self, device: Device, subject: Subject | None, now: datetime) -> tuple[bool, str]:
        """Whether the condition holds, and a one-line reason an admin can read."""
        value = self.field.get(device, subject)
        held = self.holds(device, subject, now)
        shown = "unknown" if is_missing(value) else _show(value)
        outcome = "holds" if held else "fails"
        return held, f"{self.field.path} is {shown}: {self.op} {_show(self.operand)} {outcome}"

    @property
    def device_only(self) -> bool:
        """True when the condition reads the device only (so it holds for every subject alike)."""
        return self.field.scope is Scope.DEVICE


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value)
    return str(value)
