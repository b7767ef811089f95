"""The facts a rule may name, per subject kind: their value types and where they come from.

This catalogue is the contract between the sources (which flatten vendor JSON into
:class:`~monitor.models.Device` and :class:`~monitor.models.Subject`) and the rule
files. A rule that names a field missing from it is refused at load time, so a typo
never becomes a rule that silently matches nothing.

Field paths in ``match``/``unless``:

- a bare name (``status``, ``category``, ``filevault.enabled``) is a field of the rule's
  subject; for ``subject: device`` rules the subject *is* the device;
- ``device.<field>`` is a field of the device the subject is on;
- ``subject.<field>`` names the subject explicitly.

Where a fact comes from decides what a sweep must fetch (see
:meth:`monitor.engine.RuleSet.needs`). Device facts that come from the device list
(``FactKind.DEVICE``) are free: every sweep reads the list anyway; others (Kandji's
``FactKind.DETAILS``) cost one request per device, so rules naming them are shipped
disabled.

The catalogue is built from the registered sources (:mod:`monitor.sources.registry`):
each source package declares the fields its mapping fills
(:mod:`monitor.sources.catalogue`), with their types and the fact kind that carries
them; the fields of :class:`~monitor.models.Device` and the ``kind``, ``id``, ``name``,
``status``, ``type`` of every subject are common to all. ``compliance-monitor`` lists
them per source in each package's ``fields`` module.

Value conventions the sources follow: booleans are ``bool`` (``"True"``/``"False"``
strings are converted at the seam), timestamps are aware ``datetime`` values, versions
are dotted strings (``"14.4.1"``), lists are tuples of strings, and "unknown" is
``None`` (an empty string counts as unknown too). A fact a device does not report (the
FileVault state of an iPhone) is simply absent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

from monitor.models import SUBJECT_FACT, FactKind, SourceKind, SubjectKind
from monitor.sources import registry
from monitor.sources.catalogue import ValueType, table


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One nameable fact: its type, and which fact kind carries it for each source kind.

    A source kind missing from ``facts`` does not report the field.
    """

    name: str
    type: ValueType
    facts: Mapping[SourceKind, FactKind]
    doc: str = ""

    def reported_by(self, source_kind: SourceKind) -> bool:
        """True when sources of ``source_kind`` report this field."""
        return source_kind in self.facts


# The Device's own fields, in a source's field table (no path: every mapping fills them).
COMMON_DEVICE_FIELDS = table(FactKind.DEVICE, """
source          string     -  the configured source name
source_kind     string     -  the source's kind (its vendor)
device_id       string     -
name            string     -
serial          string     -
platform        string     -  Mac, iPhone, iPad, AppleTV, Windows, Android
model           string     -
os_version      version    -
blueprint_id    string     -
blueprint_name  string     -  the blueprint or policy in force
user_email      string     -
last_check_in   timestamp  -
tags            list       -
""")
"""The :class:`~monitor.models.Device` fields: every source fills them from its list."""

COMMON_SUBJECT_FIELDS: tuple[str, ...] = ("kind", "id", "name", "status", "type")
"""The :class:`~monitor.models.Subject` fields every subject has."""

RULE_SUBJECT_KINDS: tuple[SubjectKind, ...] = (
    SubjectKind.LIBRARY_ITEM,
    SubjectKind.PARAMETER,
    SubjectKind.DEVICE,
    SubjectKind.APP,
    SubjectKind.LOST_MODE,
)
"""The subject kinds a rule may be about (``source`` and ``action`` are the monitor's own)."""


class CatalogueError(ValueError):
    """Two sources declare one field with different value types."""


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The merged catalogue: device fields, and the fields of each subject kind."""

    device: Mapping[str, FieldSpec]
    subjects: Mapping[SubjectKind, Mapping[str, FieldSpec]]


def build_catalogue() -> Catalogue:
    """Merge the common fields with every registered source's declarations."""
    found: dict[SubjectKind, dict[str, tuple[ValueType, str, dict[SourceKind, FactKind]]]] = {
        k: {} for k in RULE_SUBJECT_KINDS
    }

    def add(kind: SubjectKind, name: str, type_: ValueType, doc: str, src: SourceKind,
            fact: FactKind) -> None:
        known = found[kind].setdefault(name, (type_, doc, {}))
        if known[0] is not type_:
            raise CatalogueError(
                f"{kind} field {name!r} is a {known[0]} for some sources, a {type_} for {src}"
            )
        known[2][src] = fact

    for source in registry.sources():
        kind_ = SourceKind(source.kind)
        for d in COMMON_DEVICE_FIELDS:
            add(SubjectKind.DEVICE, d.name, d.type, d.doc, kind_, d.fact)
        for subject, decls in source.fields.items():
            if subject is not SubjectKind.DEVICE:
                for name in COMMON_SUBJECT_FIELDS:
                    add(subject, name, ValueType.STR, "", kind_, SUBJECT_FACT[subject])
            for d in decls:
                add(subject, d.name, d.type, d.doc, kind_, d.fact)
    by_kind = {
        kind: MappingProxyType(
            {
                name: FieldSpec(name, type_, MappingProxyType(facts), doc)
                for name, (type_, doc, facts) in fields.items()
            }
        )
        for kind, fields in found.items()
    }
    return Catalogue(by_kind[SubjectKind.DEVICE], MappingProxyType(by_kind))


_cache: tuple[int, Catalogue] | None = None


def catalogue() -> Catalogue:
    """The catalogue of the sources registered now (rebuilt when the registry changes)."""
    global _cache
    version = registry.version()
    if _cache is None or _cache[0] != version:
        _cache = (version, build_catalogue())
    return _cache[1]


K = TypeVar("K")
Vt = TypeVar("Vt")


class _Live(Mapping[K, Vt]):
    """A read-only view that always shows the current catalogue."""

    def __init__(self, current: Callable[[], Mapping[K, Vt]]) -> None:
        self._current = current

    def __getitem__(self, key: K) -> Vt:
        return self._current()[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._current())


DEVICE_FIELDS: Mapping[str, FieldSpec] = _Live(lambda: catalogue().device)
"""The fields of a device, as every registered source reports them."""

SUBJECT_FIELDS: Mapping[SubjectKind, Mapping[str, FieldSpec]] = _Live(
    lambda: catalogue().subjects
)
"""The fields of each subject kind a rule may be about."""


def fields_for(kind: SubjectKind) -> Mapping[str, FieldSpec]:
    """The fields a rule about ``kind`` may name without a prefix."""
    return SUBJECT_FIELDS[kind]


def details_fields(source_kind: SourceKind | str) -> frozenset[str]:
    """Device fields that need ``FactKind.DETAILS`` on ``source_kind`` (one request per device)."""
    kind = SourceKind(source_kind)
    return frozenset(
        name
        for name, spec in DEVICE_FIELDS.items()
        if spec.facts.get(kind) is FactKind.DETAILS
    )


__all__ = [
    "COMMON_DEVICE_FIELDS",
    "DEVICE_FIELDS",
    "RULE_SUBJECT_KINDS",
    "SUBJECT_FIELDS",
    "Catalogue",
    "CatalogueError",
    "FieldSpec",
    "ValueType",
    "catalogue",
    "details_fields",
    "fields_for",
]
