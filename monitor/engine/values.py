"""Turning fact values and rule operands into comparable values.

Every function here returns ``None`` for a value it cannot read; the operators treat
``None`` as a missing fact (which no comparison matches).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from monitor.sources.lenient import bool_word

_VERSION_RE = re.compile(r"^\s*[vV]?(\d+(?:\.\d+)*)")

Version = tuple[int, ...]


@lru_cache(maxsize=4096)
def _parse_version(text: str) -> Version | None:
    m = _VERSION_RE.match(text)
    if m is None:
        return None
    parts = [int(p) for p in m.group(1).split(".")]
    # 14.0 and 14.0.0 and 14 are the same version: drop trailing zeros.
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def as_version(value: Any) -> Version | None:
    """``"14.4.1"`` -> ``(14, 4, 1)``; a leading ``v`` and a trailing suffix are ignored.

    ``"17.5.1 (21F90)"`` reads as 17.5.1; ints read as one-part versions; anything
    else (floats included: ``14.10`` would read as 14.1) is unreadable.
    """
    if isinstance(value, str):
        return _parse_version(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _parse_version(str(value))
    return None


def as_timestamp(value: Any) -> datetime | None:
    """An aware UTC datetime from a datetime, a date (midnight UTC) or an ISO 8601 string."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return None


_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


def as_bool(value: Any) -> bool | None:
    """A bool; the strings ``True``/``False``/``Yes``/``No`` that vendors send are read too."""
    if value is True or value is False:
        return bool(value)
    return bool_word(value, _TRUE, _FALSE) if isinstance(value, str) else None


def as_number(value: Any) -> float | None:
    """A number from an int, a float or a numeric string (bools are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def as_str(value: Any) -> str | None:
    """A string; numbers are written out, other values are unreadable."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def as_list(value: Any) -> tuple[str, ...] | None:
    """A tuple of strings from a list, tuple, set or frozenset."""
    if isinstance(value, tuple | list | set | frozenset):
        return tuple(str(v) for v in value)
    return None


def is_missing(value: Any) -> bool:
    """True for the values that mean "not known": None and the empty string."""
    return value is None or value == ""
