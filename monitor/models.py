"""The shared vocabulary: devices, facts, findings, alerts and transitions.

These are plain frozen dataclasses: no I/O, no vendor JSON (vendor responses are parsed
into vendor models in :mod:`monitor.sources` and mapped to these there).

A :class:`Device` and a :class:`Subject` clean their own strings when they are made
(:mod:`monitor.text`): one-line fields are bounded and lose control and bidi characters,
free-text attributes are bounded, and a registered secret echoed by an API is redacted.
Whatever an API answers, the database, the status page and the messages get tame text.

How the pieces relate::

    Device + Subject facts --(engine, rules, now)--> Finding
    Finding + previous Alert --(alerts state machine, now)--> Alert + Transition
    Transition --(notify: route, group, render)--> outbox message --(apprise)--> people

A finding's identity, its fingerprint, is source + rule + device + subject. Two sweeps
that see the same problem produce the same fingerprint; that is what deduplication and
restart-safety rest on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar, Protocol, TypedDict

from monitor.text import clean_line, clean_text

EMPTY: Mapping[str, Any] = MappingProxyType({})


class SourceKind(str):
    """Which MDM a source is: the ``kind`` of its config (see :mod:`monitor.sources.registry`).

    An open set, not an enum: each source package names its own kind, so adding a
    vendor touches no shared module. ``value`` is the kind itself, as for the enums.
    """

    __slots__ = ()

    @property
    def value(self) -> str:
        """The kind as a plain string."""
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"SourceKind({str.__str__(self)!r})"


class SubjectKind(StrEnum):
    """What a finding is about, on a device."""

    LIBRARY_ITEM = "library_item"
    PARAMETER = "parameter"
    DEVICE = "device"
    APP = "app"
    LOST_MODE = "lost_mode"
    SOURCE = "source"
    ACTION = "action"


class FactKind(StrEnum):
    """A kind of fact a sweep can fetch; rules declare which they need."""

    DEVICE = "device"  # the device list record (always fetched)
    LIBRARY_ITEMS = "library_items"
    PARAMETERS = "parameters"
    DETAILS = "details"
    APPS = "apps"
    LOST_MODE = "lost_mode"


class Severity(StrEnum):
    """How urgent a finding is, lowest first."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class AlertState(StrEnum):
    """Where an alert stands.

    ``pending``: the finding holds but not yet for the rule's ``for``.
    ``firing``: announced (or announceable) problem.
    ``resolved``: fresh data no longer matches (held for ``keep_firing_for`` first).
    """

    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


class NotifyReason(StrEnum):
    """Why a notification is sent."""

    FIRST = "first"
    REPEAT = "repeat"
    RESOLVED = "resolved"
    ESCALATED = "escalated"  # alerts that aged into a route with an ``age: {over: ...}``


class DeviceRef(TypedDict):
    """The fields that name a device in a :class:`Finding` and in what follows from one
    (an action request, a device-level finding): ``Finding(**ref, ...)``."""

    source: str
    source_kind: SourceKind
    device_id: str
    device_name: str
    device_serial: str


class NamesDevice(Protocol):
    """Anything that names a device the way a finding does."""

    @property
    def source(self) -> str: ...
    @property
    def source_kind(self) -> SourceKind: ...
    @property
    def device_id(self) -> str: ...
    @property
    def device_name(self) -> str: ...
    @property
    def device_serial(self) -> str: ...


def device_ref(named: NamesDevice) -> DeviceRef:
    """The device ``named`` names (a finding, an action request)."""
    return DeviceRef(
        source=named.source, source_kind=named.source_kind, device_id=named.device_id,
        device_name=named.device_name, device_serial=named.device_serial,
    )


class Facts:
    """What a device and a subject share: their named facts are their fields, every
    other fact is in ``attrs``."""

    __slots__ = ()

    attrs: Mapping[str, Any]
    #: The names :meth:`field` reads as fields (every field but ``attrs``).
    named: ClassVar[frozenset[str]] = frozenset()

    def field(self, name: str) -> Any:
        """Value of a named fact (a dataclass field first, then ``attrs``); None if absent."""
        if name in self.named:
            return getattr(self, name)
        return self.attrs.get(name)


@dataclass(frozen=True, slots=True)
class Device(Facts):
    """One managed device as the rule engine sees it.

    ``attrs`` carries every further fact available for rules, flattened to dotted keys
    (``filevault.enabled``, ``mdm.enabled``, ``lost_mode_status``, ``compliance`` ...).
    """

    source: str
    source_kind: SourceKind
    device_id: str
    name: str
    serial: str = ""
    platform: str = ""
    model: str = ""
    os_version: str = ""
    blueprint_id: str = ""
    blueprint_name: str = ""
    user_email: str = ""
    last_check_in: datetime | None = None
    tags: tuple[str, ...] = ()
    attrs: Mapping[str, Any] = field(default_factory=lambda: EMPTY)

    def __post_init__(self) -> None:
        _clean_fields(self, _DEVICE_TEXT_FIELDS)
        if self.tags:
            object.__setattr__(self, "tags", tuple(clean_line(t) for t in self.tags))

    def ref(self) -> DeviceRef:
        """How a finding about this device names it."""
        return DeviceRef(
            source=self.source, source_kind=self.source_kind, device_id=self.device_id,
            device_name=self.name, device_serial=self.serial,
        )



@dataclass(frozen=True, slots=True)
class Subject(Facts):
    """One thing on a device that has a status: a library item, a parameter, an app.

    ``id`` is stable across sweeps (the library item or parameter UUID, the app bundle
    id); ``status`` is the vendor's value as reported (case kept: profiles report
    ``failed`` in lower case); ``attrs`` holds the rest (``type``, ``category``,
    ``version``, ``log`` ...).
    """

    kind: SubjectKind
    id: str
    name: str
    status: str = ""
    type: str = ""
    attrs: Mapping[str, Any] = field(default_factory=lambda: EMPTY)

    def __post_init__(self) -> None:
        _clean_fields(self, _SUBJECT_TEXT_FIELDS)



_DEVICE_TEXT_FIELDS = (
    "source",
    "device_id",
    "name",
    "serial",
    "platform",
    "model",
    "os_version",
    "blueprint_id",
    "blueprint_name",
    "user_email",
)
_SUBJECT_TEXT_FIELDS = ("id", "name", "status", "type")
Device.named = frozenset(f.name for f in fields(Device)) - {"attrs"}
Subject.named = frozenset(f.name for f in fields(Subject)) - {"attrs"}


def _clean_fields(made: Device | Subject, text_fields: tuple[str, ...]) -> None:
    """Tame a just-made device's or subject's one-line fields and its ``attrs`` in place
    (frozen dataclasses: set through ``object.__setattr__``)."""
    for name in text_fields:
        value = getattr(made, name)
        cleaned = clean_line(value) if isinstance(value, str) else value
        if cleaned is not value:
            object.__setattr__(made, name, cleaned)
    if made.attrs:
        object.__setattr__(made, "attrs", clean_attrs(made.attrs))


def clean_attrs(attrs: Mapping[str, Any]) -> Mapping[str, Any]:
    """``attrs`` with every string bounded and tamed (:func:`monitor.text.clean_text`);
    the same mapping when nothing needed it."""
    changed: dict[str, Any] | None = None
    for key, value in attrs.items():
        cleaned = _clean_value(value)
        if cleaned is not value:
            if changed is None:
                changed = dict(attrs)
            changed[key] = cleaned
    return attrs if changed is None else changed


def _clean_value(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, tuple | list) and any(isinstance(v, str) for v in value):
        return type(value)(clean_text(v) if isinstance(v, str) else v for v in value)
    return value


def fingerprint(
    source: str, rule_id: str, device_id: str, subject_kind: str, subject_id: str
) -> str:
    """The stable identity of a finding: source + rule + device + subject."""
    raw = "\x1f".join((source, rule_id, device_id, subject_kind, subject_id))
    return hashlib.blake2b(raw.encode(), digest_size=12).hexdigest()


#: The one label vocabulary: what the monitor itself sets on every finding and alert, for
#: routes, ``group_by``, silences and inhibition to match on. The first eleven come from
#: the finding's own fields (:meth:`Finding.standard_labels`); ``platform`` and
#: ``blueprint`` from its device, set by the rule engine. A rule's own labels may not
#: use these names, so no rule can masquerade as another source or severity.
STANDARD_LABELS: tuple[str, ...] = (
    "rule_id",
    "severity",
    "source",
    "source_kind",
    "device_id",
    "device_name",
    "device_serial",
    "subject_kind",
    "subject_id",
    "subject_name",
    "subject_status",
    "platform",
    "blueprint",
)


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule matched a subject on a device, as seen in one sweep."""

    rule_id: str
    source: str
    source_kind: SourceKind
    device_id: str
    device_name: str
    device_serial: str
    subject_kind: SubjectKind
    subject_id: str
    subject_name: str
    subject_status: str
    severity: Severity
    summary: str
    description: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    for_seconds: float = 0.0
    keep_firing_for_seconds: float = 0.0
    fingerprint: str = field(default="")
    #: The device's assigned user's e-mail address (personal data: messages to that
    #: user only, never labels or logs); empty when the MDM names nobody.
    owner: str = field(default="", repr=False)
    #: The subject's last audit or log text, cut short: the "why" of an owner notice.
    detail: str = ""
    #: What to do about it, in the rule's words (its ``remedy:`` text).
    remedy: str = ""

    def __post_init__(self) -> None:
        if not self.fingerprint:
            object.__setattr__(
                self,
                "fingerprint",
                fingerprint(
                    self.source, self.rule_id, self.device_id, self.subject_kind, self.subject_id
                ),
            )

    def display_fields(self) -> dict[str, str]:
        """The finding as people are shown it (messages, ``status --json``...): the
        standard labels and the summary, every value plain text."""
        return {**self.standard_labels(), "summary": self.summary}

    def standard_labels(self) -> dict[str, str]:
        """The standard labels that come from the finding's own fields."""
        return {
            "rule_id": self.rule_id,
            "severity": self.severity.value,
            "source": self.source,
            "source_kind": self.source_kind.value,
            "device_id": self.device_id,
            "device_name": self.device_name,
            "device_serial": self.device_serial,
            "subject_kind": self.subject_kind.value,
            "subject_id": self.subject_id,
            "subject_name": self.subject_name,
            "subject_status": self.subject_status,
        }


@dataclass(frozen=True, slots=True)
class Alert:
    """The persisted state of one fingerprint.

    ``active_since``: when the finding was first seen in its current run of matches.
    ``firing_since``: when it became firing (None while pending).
    ``last_seen``: the last sweep that saw it match.
    ``resolved_at``: when fresh data first stopped matching (None while it matches).
    ``finding``: the latest finding (names, status, labels, summary).
    ``baseline``: recorded as firing on the first sweep of its rule with
    ``notify.first_start: baseline``; it is never announced (neither firing nor resolved).
    """

    fingerprint: str
    state: AlertState
    finding: Finding
    active_since: datetime
    last_seen: datetime
    firing_since: datetime | None = None
    resolved_at: datetime | None = None
    baseline: bool = False

    @property
    def rule_id(self) -> str:
        return self.finding.rule_id

    @property
    def severity(self) -> Severity:
        return self.finding.severity


@dataclass(frozen=True, slots=True)
class Transition:
    """An alert moved from one state to another at ``at``."""

    fingerprint: str
    previous: AlertState | None
    current: AlertState
    at: datetime
    alert: Alert


@dataclass(frozen=True, slots=True)
class Coverage:
    """What one sweep of one source observed with fresh data.

    ``complete_kinds``: fact kinds observed for every device in ``devices``.
    ``partial``: fact kind -> the device ids observed for that kind (when not complete).
    ``devices``: ids of the devices the device list returned.
    ``device_list_complete``: the device list was read to its end.

    An alert on a device/subject kind that was not observed is held, never resolved
    (stale data is not compliance).
    """

    source: str
    devices: frozenset[str] = frozenset()
    device_list_complete: bool = False
    complete_kinds: frozenset[FactKind] = frozenset()
    partial: Mapping[FactKind, frozenset[str]] = field(default_factory=dict)

    def observed(self, kind: FactKind, device_id: str) -> bool:
        """True when ``kind`` facts of ``device_id`` are fresh in this sweep."""
        if kind in self.complete_kinds and device_id in self.devices:
            return True
        ids = self.partial.get(kind)
        return ids is not None and device_id in ids


SUBJECT_FACT: Mapping[SubjectKind, FactKind] = MappingProxyType(
    {
        SubjectKind.LIBRARY_ITEM: FactKind.LIBRARY_ITEMS,
        SubjectKind.PARAMETER: FactKind.PARAMETERS,
        SubjectKind.DEVICE: FactKind.DEVICE,
        SubjectKind.APP: FactKind.APPS,
        SubjectKind.LOST_MODE: FactKind.LOST_MODE,
    }
)


@dataclass(frozen=True, slots=True)
class SweepStats:
    """The one summary of a finished sweep of one source: what the store records, the
    status page and ``status`` show, and ``once`` reports.

    ``findings``, ``firing`` and ``transitions`` are what the sweep led to once its
    findings went through the alert state machine.
    """

    source: str
    started_at: datetime
    finished_at: datetime
    ok: bool
    devices: int = 0
    requests: int = 0
    errors: int = 0
    findings: int = 0
    error: str = ""
    budget_remaining: float | None = None
    firing: int = 0
    transitions: int = 0

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


def projected(view: type, *sources: object, **given: Any) -> dict[str, Any]:
    """The fields of the dataclass ``view``: those in ``given`` as given, every other
    one read by its name from the first of ``sources`` that has it: one model carried
    over into another that shares its names (a view of a sweep, a message as queued)."""
    values = dict(given)
    for f in fields(view):
        if f.name not in values:
            owner = next((o for o in sources if hasattr(o, f.name)), None)
            if owner is not None:
                values[f.name] = getattr(owner, f.name)
    return values
