"""The rule-field catalogue a source declares: which facts it reports, typed, and from where.

Each source package lists the fields its mapping fills (:class:`FieldDecl`), per
subject kind, in one text :func:`table` per fact kind (or as :func:`declare` rows):
those read as they are from a path of the vendor's model (filled by
:func:`read_fields`) and those the mapping computes. :mod:`monitor.engine.fields`
merges every registered source's list into the catalogue rule files are checked
against. The fields of
:class:`~monitor.models.Device` itself (``name``, ``serial``, ``platform``, ...) and the
``kind``/``id``/``name``/``status``/``type`` of every subject are the engine's own: a
source does not list them.

Value conventions every source follows: booleans are ``bool``, timestamps aware
``datetime`` values, versions dotted strings, lists tuples of strings, and "unknown" is
``None`` (left out of ``attrs``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

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
    #: Where the mapping reads the value: a dotted attribute path into the vendor's
    #: model (see :func:`read_fields`); empty when the mapping computes the value.
    path: str = ""


FieldCatalogue = Mapping[SubjectKind, Sequence[FieldDecl]]
"""A source's fields by subject kind (``SubjectKind.DEVICE`` for device facts)."""


def declare(fact: FactKind, *rows: tuple[str, ValueType, str]) -> tuple[FieldDecl, ...]:
    """``(name, type, doc)`` rows all carried by ``fact``, whose values the mapping
    computes."""
    return tuple(FieldDecl(name, type_, fact, doc) for name, type_, doc in rows)


COMPUTED = "-"
"""The ``path`` of a :func:`table` row whose value the mapping computes."""


def table(fact: FactKind, text: str) -> tuple[FieldDecl, ...]:
    """The fields of a text table, all carried by ``fact``: one field a line,
    ``name  type  path  note``, columns apart by white space.

    ``type`` is a :class:`ValueType` value (``string``, ``boolean``, ``number``,
    ``version``, ``timestamp``, ``list``). ``path`` is where :func:`read_fields` reads the
    value in the vendor's model, or :data:`COMPUTED` (``-``) for a value the mapping
    computes. The note, the rest of the line, is optional: a read field's doc is its path
    (and the note, when there is one), a computed field's the note (how it is computed).
    Blank lines are skipped; a malformed line or an unknown type raises ValueError.
    """
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        cells = line.split(None, 3)
        if len(cells) < 3:
            raise ValueError(f"field table row needs a name, a type and a path: {line!r}")
        name, type_, path = cells[0], ValueType(cells[1]), cells[2]
        note = cells[3] if len(cells) == 4 else ""
        if path == COMPUTED:
            out.append(FieldDecl(name, type_, fact, note))
        else:
            out.append(FieldDecl(name, type_, fact, f"{path}; {note}" if note else path, path))
    return tuple(out)


def read_fields(attrs: dict[str, Any], fields: Iterable[FieldDecl], model: object) -> None:
    """Set in ``attrs`` every field of ``fields`` that has a path, read from ``model``.

    An unknown value (None, or an empty string) is left out: absent facts stay absent.
    A path through a missing section (None) reads as unknown.
    """
    for decl in fields:
        if not decl.path:
            continue
        value: Any = model
        for part in decl.path.split("."):
            value = None if value is None else getattr(value, part)
        if value is not None and value != "":
            attrs[decl.name] = value


__all__ = [
    "COMPUTED",
    "FieldCatalogue",
    "FieldDecl",
    "ValueType",
    "declare",
    "read_fields",
    "table",
]
