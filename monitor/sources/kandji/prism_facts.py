"""Device details from Prism: the fields rules read, fleet-wide, changed rows only.

``GET /devices/{id}/details`` costs one request per device. Prism serves some of the
same facts for every Apple device in a few pages (``GET /prism/{category}``, 300 rows a
page), and its ``updated_at`` filter returns only the rows that changed since a moment.
:data:`PRISM_FIELDS` maps the details fields Prism serves with the same meaning to
their category and column. When every details field the enabled rules name is among
them (:func:`prism_fields_for`), a planned sweep keeps a :class:`PrismMirror` of those
columns instead of reading ``/details``: its first read takes whole tables, later reads
only the rows updated since the newest ``updated_at`` it saw (less a minute, for rows
written late), and a whole read again at a slow safety cadence. ``/details`` is then
read only for devices Prism does not cover (Android, Windows).

A field Prism leaves out for a device (``null``, or no row: FileVault on an iPhone) is
absent, as ``/details`` leaves it absent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from monitor.clock import Clock
from monitor.errors import SourceError
from monitor.sources.http import ApiClient
from monitor.sources.kandji.feeds import iter_prism

if TYPE_CHECKING:
    from monitor.engine import RuleSet


@dataclass(frozen=True, slots=True)
class PrismField:
    """Where Prism serves one details field: category and column."""

    category: str
    column: str


PRISM_FIELDS: Final[Mapping[str, PrismField]] = {
    "filevault.enabled": PrismField("filevault", "status"),
    "filevault.prk_escrowed": PrismField("filevault", "key_escrowed"),
    "disk_encryption.enabled": PrismField("filevault", "status"),
}
"""Details fields Prism serves with the meaning ``/details`` gives them. Others are left
out on purpose: ``key_type`` and ``regeneration_needed`` read differently from their
``/details`` counterparts, and the ``activation_lock`` table's documented rows carry no
activation-lock column."""

PRISM_PLATFORMS: Final = frozenset({"Mac", "iPhone", "iPad", "AppleTV"})
"""The platforms Prism covers (its device families)."""

OVERLAP: Final = timedelta(minutes=1)
"""How far before the newest ``updated_at`` seen a changed-rows read starts."""

FULL_EVERY: Final = 6 * 3600.0
"""Seconds between whole reads of the tables (a safety cadence)."""

Fail = Callable[[str, Exception], None]


def prism_fields_for(
    rules: RuleSet, source_kind: str, details: Iterable[str]
) -> frozenset[str] | None:
    """The details fields the enabled rules of ``source_kind`` read, when Prism serves
    every one of them; None when one is not served (``/details`` is needed anyway) or
    none is read. ``details`` names every details field of the source.

    A rule's conditions name fields; its texts (summary, description, remedy) may too,
    so a details field Prism does not serve named anywhere in them counts as read.
    """
    known = frozenset(details)
    unserved = known - PRISM_FIELDS.keys()
    named: set[str] = set()
    for rule in rules.enabled:
        if not rule.applies_to(source_kind):
            continue
        named.update(c.field.name for c in rule.conditions() if c.field.name in known)
        texts = (rule.summary_template.source, rule.description_template.source, rule.remedy)
        named.update(f for f in unserved if any(f in text for text in texts))
    if not named or not named <= PRISM_FIELDS.keys():
        return None
    return frozenset(named)


class PrismMirror:
    """The Prism columns behind ``fields``, per device, kept fresh by changed-rows reads.

    :meth:`refresh` reads every category involved; :attr:`attrs` maps a device id to
    its fields (only devices with at least one known value). ``fresh`` says whether the
    last refresh read every category to its end: only then do the mirror's facts count
    as observed.
    """

    def __init__(self, fields: Iterable[str], clock: Clock, full_every: float = FULL_EVERY) -> None:
        self.clock = clock
        self.full_every = full_every
        by_category: dict[str, list[tuple[str, str]]] = {}
        for name in sorted(fields):
            where = PRISM_FIELDS[name]
            by_category.setdefault(where.category, []).append((name, where.column))
        self.columns: dict[str, tuple[tuple[str, str], ...]] = {
            c: tuple(v) for c, v in by_category.items()
        }
        self.attrs: dict[str, dict[str, Any]] = {}
        self.fresh = False
        self._newest: dict[str, datetime] = {}
        self._full_at: float | None = None

    def covers(self, platform: str) -> bool:
        """Whether Prism serves the fields for devices of ``platform``."""
        return platform in PRISM_PLATFORMS

    async def refresh(self, api: ApiClient, fail: Fail) -> bool:
        """Read what changed in every category (everything, when a whole read is due)."""
        now = self.clock.monotonic()
        whole = self._full_at is None or now - self._full_at >= self.full_every
        ok = True
        for category in self.columns:
            since = None if whole else self._newest.get(category)
            try:
                await self._read(api, category, None if since is None else since - OVERLAP)
            except SourceError as exc:
                fail(f"prism {category}", exc)
                ok = False
        if ok and whole:
            self._full_at = now
        self.fresh = ok
        return ok

    async def _read(self, api: ApiClient, category: str, since: datetime | None) -> None:
        columns = self.columns[category]
        seen: set[str] = set()
        newest = self._newest.get(category)
        async for page in iter_prism(api, category, updated_since=since):
            for row in page:
                seen.add(row.device_id)
                values = row.model_extra or {}
                attrs = self.attrs.setdefault(row.device_id, {})
                for name, column in columns:
                    value = values.get(column)
                    if isinstance(value, bool | str | int | float):
                        attrs[name] = value
                    else:
                        attrs.pop(name, None)
                if not attrs:
                    del self.attrs[row.device_id]
                if row.updated_at is not None and (newest is None or row.updated_at > newest):
                    newest = row.updated_at
        if since is None:
            # A whole table: a device it no longer lists has none of its columns.
            for did in [d for d in self.attrs if d not in seen]:
                attrs = self.attrs[did]
                for name, _ in columns:
                    attrs.pop(name, None)
                if not attrs:
                    del self.attrs[did]
        if newest is not None:
            self._newest[category] = newest

    def forget_except(self, listed: Iterable[str]) -> None:
        """Drop the facts of devices the device list no longer returns."""
        keep = set(listed)
        for did in [d for d in self.attrs if d not in keep]:
            del self.attrs[did]


__all__ = [
    "FULL_EVERY",
    "OVERLAP",
    "PRISM_FIELDS",
    "PRISM_PLATFORMS",
    "PrismField",
    "PrismMirror",
    "prism_fields_for",
]
