"""The ``filter`` parameter of the simulated Prism tables (API-NOTES §5.5).

A JSON object maps response keys to operator objects; several keys are ANDed, as are
several operators under one key:

- ``eq`` (booleans, and any other JSON scalar): ``{"apple_silicon": {"eq": true}}``;
- ``in`` / ``not_in``, exact string lists: ``{"device__user_email": {"in": ["a@b"]}}``;
- ``like`` / ``not_like``, substrings (any of / none of, case-insensitive);
- ``lt``, ``gt``, ``lte``, ``gte``: dates (ISO 8601, ``Z`` or an offset) or numbers;
- ``or``: a list of operator objects, any one of which must hold
  (``{"updated_at": {"or": [{"lt": "..."}, {"gt": "..."}]}}`` excludes a window).

``blueprint__id`` and ``device__family`` cannot be filtered (use ``blueprint_ids`` and
``device_families``). A row whose value is ``null`` fails every comparison. The filter
is hostile input: its size, its keys and its lists are bounded, and a malformed one is
a :class:`FilterError` (a ``400`` with a ``detail``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

MAX_FILTER_BYTES: Final = 4096
MAX_KEYS: Final = 32
MAX_VALUES: Final = 100
UNFILTERABLE: Final = frozenset({"blueprint__id", "device__family"})

Predicate = Callable[[Any], bool]


class FilterError(ValueError):
    """The filter cannot be applied; the message is the ``detail`` of the 400 answer."""


def _instant(value: Any) -> datetime | float | None:
    """A comparable form of a date string or a number; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _strings(key: str, op: str, value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_VALUES:
        raise FilterError(f"Invalid filter: {key}.{op} takes a list of at most {MAX_VALUES}")
    if not all(isinstance(v, str) and len(v) <= 256 for v in value):
        raise FilterError(f"Invalid filter: {key}.{op} takes strings")
    return value


def _compare(key: str, op: str, bound: Any) -> Predicate:
    limit = _instant(bound)
    if limit is None:
        raise FilterError(f"Invalid filter: {key}.{op} takes a date or a number")

    def check(value: Any) -> bool:
        seen = _instant(value)
        if seen is None or type(seen) is not type(limit):
            return False
        if op == "lt":
            return seen < limit  # type: ignore[operator]
        if op == "gt":
            return seen > limit  # type: ignore[operator]
        if op == "lte":
            return seen <= limit  # type: ignore[operator]
        return seen >= limit  # type: ignore[operator]

    return check


def _predicate(key: str, op: str, arg: Any, depth: int) -> Predicate:
    if op == "eq":
        if isinstance(arg, dict | list):
            raise FilterError(f"Invalid filter: {key}.eq takes a scalar")
        return lambda v: v == arg and type(v) is type(arg)
    if op in ("in", "not_in"):
        wanted = frozenset(_strings(key, op, arg))
        if op == "in":
            return lambda v: isinstance(v, str) and v in wanted
        return lambda v: not (isinstance(v, str) and v in wanted)
    if op in ("like", "not_like"):
        needles = [n.lower() for n in _strings(key, op, arg)]

        def contains(v: Any) -> bool:
            return isinstance(v, str) and any(n in v.lower() for n in needles)

        if op == "like":
            return contains
        return lambda v: not contains(v)
    if op in ("lt", "gt", "lte", "gte"):
        return _compare(key, op, arg)
    if op == "or":
        if depth > 0 or not isinstance(arg, list) or not 0 < len(arg) <= MAX_VALUES:
            raise FilterError(f"Invalid filter: {key}.or takes a list of operator objects")
        branches = [_operators(key, branch, depth + 1) for branch in arg]
        return lambda v: any(all(p(v) for p in branch) for branch in branches)
    raise FilterError(f"Invalid filter operator: {op[:20]}")


def _operators(key: str, spec: Any, depth: int = 0) -> list[Predicate]:
    if not isinstance(spec, dict) or not spec or len(spec) > 8:
        raise FilterError(f"Invalid filter: {key} takes an object of operators")
    return [_predicate(key, str(op), arg, depth) for op, arg in spec.items()]


class RowFilter:
    """A parsed filter: which rows it keeps, and the earliest ``updated_at`` it allows."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = dict(spec)
        self._checks: list[tuple[str, list[Predicate]]] = []
        for key, operators in spec.items():
            if key in UNFILTERABLE:
                raise FilterError(f"Invalid filter key: {key} cannot be filtered")
            self._checks.append((key, _operators(key, operators)))

    def matches(self, row: Mapping[str, Any]) -> bool:
        """Whether ``row`` passes every condition; a key the row lacks is an error."""
        for key, predicates in self._checks:
            if key not in row:
                raise FilterError(f"Invalid filter key: {key[:40]}")
            value = row[key]
            if not all(p(value) for p in predicates):
                return False
        return True

    def updated_since(self) -> datetime | None:
        """The lower bound ``gte``/``gt`` sets on ``updated_at`` (None: no bound), so a
        reader of rows changed since its last read can skip the others unbuilt."""
        ops = self.spec.get("updated_at")
        if not isinstance(ops, dict):
            return None
        bounds = [_instant(ops[op]) for op in ("gte", "gt") if op in ops]
        dates = [b for b in bounds if isinstance(b, datetime)]
        return max(dates) if dates else None


def parse_filter(raw: str) -> RowFilter:
    """The ``filter`` query parameter, decoded and checked."""
    if len(raw) > MAX_FILTER_BYTES:
        raise FilterError(f"Invalid filter: longer than {MAX_FILTER_BYTES} characters")
    try:
        spec = json.loads(raw)
    except (ValueError, RecursionError):
        raise FilterError("Invalid filter: not JSON") from None
    if not isinstance(spec, dict) or len(spec) > MAX_KEYS:
        raise FilterError(f"Invalid filter: an object of at most {MAX_KEYS} keys")
    return RowFilter(spec)
