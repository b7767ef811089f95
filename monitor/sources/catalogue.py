"""The rule-field catalogue a source declares: which facts it reports, typed, and from where.

Each source package lists the fields its mapping fills (:class:`FieldDecl`), per
subject kind; :mod:`monitor.engine.fields` merges every registered source's list into
the catalogue rule files are checked against. The fields of
:class:`~monitor.models.Device` itself (``name``, ``serial``, ``platform``, ...) and the
``kind``/``id``/``name``/``status``/``type`` of every subject are the engine's own: a
source does not list them.

Value conventions every source follows: booleans are ``bool``, timestamps aware
``datetime`` values, versions dotted strings, lists tuples of strings, and "unknown" is
``None`` (left out of ``attrs``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from monitor.models import FactKind, SubjectKind


class ValueType(StrEnum):
    """How a fact's values compare."""

    STR = "string"
    BOOL = "boolean"
    NUMBER = "number"
    VERSION = "version"
    TIMESTAMP = "timestamp"
    LIST = "list"


@dataclass(frozen=True, slots=True)
class FieldDecl:
    """One field a source reports: its name, value type, the fact kind that carries it."""

    name: str
    type: ValueType
    fact: FactKind
    doc: str = ""


FieldCatalogue = Mapping[SubjectKind, Sequence[FieldDecl]]
"""A source's fields by subject kind (``SubjectKind.DEVICE`` for device facts)."""


def declare(fact: FactKind, *rows: tuple[str, ValueType, str]) -> tuple[FieldDecl, ...]:
    """``(name, type, doc)`` rows all carried by ``fact``."""
    return tuple(FieldDecl(name, type_, fact, doc) for name, type_, doc in rows)


__all__ = ["FieldCatalogue", "FieldDecl", "ValueType", "declare"]
