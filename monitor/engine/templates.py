"""Finding texts: Jinja2 templates rendered in a sandbox.

A rule's ``summary`` and ``description`` see four names:

- ``device``: the device's fields, ``{{ device.name }}``, ``{{ device.os_version }}``;
  dotted attrs read naturally, ``{{ device.filevault.enabled }}``, or by key,
  ``{{ device["filevault.enabled"] }}``;
- ``subject``: the subject's fields (for ``subject: device`` rules, the device again);
- ``rule``: ``id``, ``description``, ``severity``, ``source``, ``subject``, ``labels``;
- ``now``: the evaluation time (aware UTC datetime).

A filter ``ago`` writes a timestamp's age against ``now``:
``{{ device.last_check_in | ago }}`` gives ``8d 3h ago``.

Each template is rendered once at load time against a sample device and subject with
``StrictUndefined``, so a typo (``{{ subject.nmae }}``) is a load error naming the
file and line. At run time an unknown fact renders as an empty string, and a template
that fails anyway falls back to a plain text, so a finding is never lost to a template.
Output is plain text: receivers escape it for their own format. Templates run in a
sandbox with bounded resources (:mod:`monitor.sandbox`): no expression may build a
huge value, and a text is cut at :data:`MAX_FINDING_TEXT` characters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, Undefined, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from monitor.engine.fields import FieldSpec, ValueType
from monitor.engine.values import as_timestamp
from monitor.sandbox import BoundedSandbox, join_bounded

MAX_FINDING_TEXT = 2000
"""The longest summary or description a rule's template may produce, in characters."""

SAMPLE_NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

_SAMPLE_VALUES: dict[ValueType, Any] = {
    ValueType.STR: "sample",
    ValueType.BOOL: True,
    ValueType.NUMBER: 1,
    ValueType.VERSION: "14.4.1",
    ValueType.TIMESTAMP: datetime(2026, 1, 1, 8, 0, tzinfo=UTC),
    ValueType.LIST: ("sample",),
}


class FactsView:
    """Read-only attribute access to known facts, for templates.

    ``view.name`` and ``view["filevault.enabled"]`` read a fact; ``view.filevault``
    returns a view of the facts under ``filevault.``. A name outside the catalogue is
    an ``AttributeError``, which Jinja turns into an undefined value (an error when
    strict).
    """

    __slots__ = ("_get", "_known", "_prefix")

    def __init__(
        self, get: Callable[[str], Any], known: Mapping[str, FieldSpec], prefix: str = ""
    ) -> None:
        self._get = get
        self._known = known
        self._prefix = prefix

    def _read(self, name: str) -> Any:
        full = self._prefix + name
        if full in self._known:
            return self._get(full)
        nested = full + "."
        if nested in _prefixes(self._known):
            return FactsView(self._get, self._known, nested)
        raise KeyError(full)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._read(name)
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self._read(name)

    def __repr__(self) -> str:
        return f"<facts {self._prefix or '*'}>"


_PREFIXES: dict[int, tuple[Mapping[str, FieldSpec], frozenset[str]]] = {}


def _prefixes(known: Mapping[str, FieldSpec]) -> frozenset[str]:
    """Every dotted prefix (``"filevault."``) of the names in ``known``, cached per catalogue."""
    hit = _PREFIXES.get(id(known))
    if hit is not None and hit[0] is known:
        return hit[1]
    found = frozenset(
        ".".join(parts[:i]) + "."
        for parts in (name.split(".") for name in known)
        for i in range(1, len(parts))
    )
    _PREFIXES[id(known)] = (known, found)
    return found


def _ago(context: Context, value: Any) -> str:
    stamp = as_timestamp(value)
    now = context.get("now")
    if stamp is None or not isinstance(now, datetime):
        return ""
    seconds = int((now - stamp).total_seconds())
    suffix = "ago" if seconds >= 0 else "from now"
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        text = f"{days}d {hours}h" if hours else f"{days}d"
    elif hours:
        text = f"{hours}h {minutes}m" if minutes else f"{hours}h"
    else:
        text = f"{minutes}m"
    return f"{text} {suffix}"


def _finalize(value: Any) -> Any:
    return "" if value is None else value


class _FactsSandbox(BoundedSandbox):
    """The sandbox, with a direct path for fact views.

    A :class:`FactsView` only ever yields catalogued facts (never a name starting with
    ``_``), so reading one needs none of the sandbox's generic attribute checks; the
    values it yields are checked as usual when a template goes further into them.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is FactsView:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


def _environment(undefined: type[Undefined]) -> SandboxedEnvironment:
    env = _FactsSandbox(
        undefined=undefined,
        autoescape=False,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["ago"] = pass_context(_ago)
    return env


_STRICT = _environment(StrictUndefined)
_LENIENT = _environment(Undefined)
_STRICT_GLOBALS = dict(_STRICT.globals)
_LENIENT_GLOBALS = dict(_LENIENT.globals)


class TemplateCheckError(ValueError):
    """A template does not compile or does not render against a sample."""


class FindingTemplate:
    """One rule text: compiled twice, strict for the load-time check, lenient for use."""

    __slots__ = ("_lenient", "_strict", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        try:
            self._strict = _STRICT.from_string(source)
            self._lenient = _LENIENT.from_string(source)
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            where = f" (template line {line})" if line else ""
            raise TemplateCheckError(f"template does not compile{where}: {exc}") from None

    def check(self, context: Mapping[str, Any]) -> str:
        """Render strictly against a sample context; a typo raises TemplateCheckError."""
        try:
            return _render(self._strict, _STRICT_GLOBALS, context)
        except Exception as exc:  # any failure against a full sample is the author's
            raise TemplateCheckError(f"template does not render: {exc}") from None

    def render(self, context: Mapping[str, Any], fallback: str) -> str:
        """Render for a finding; unknown facts are empty, and any failure gives ``fallback``."""
        try:
            return _render(self._lenient, _LENIENT_GLOBALS, context).strip()
        except Exception:  # a template must never cost a finding
            return fallback


def _render(template: Template, globals_: Mapping[str, Any], context: Mapping[str, Any]) -> str:
    # Template.render() merges the environment's globals (a ChainMap) into a new dict on
    # every call; with thousands of findings per sweep that dominates. A shared context
    # over one plain dict of globals + names renders the same text at a fraction.
    ctx = template.new_context({**globals_, **context}, shared=True)
    return join_bounded(template.root_render_func(ctx), MAX_FINDING_TEXT)


def sample_view(known: Mapping[str, FieldSpec]) -> FactsView:
    """A view where every known fact has a typical value of its type."""
    return FactsView(lambda name: _SAMPLE_VALUES[known[name].type], known)
