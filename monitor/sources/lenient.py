"""Lenient scalar types for vendor models: the shapes MDM APIs send, read safely.

Timestamps in several formats (aware UTC or None), string booleans (``"True"``,
``"Yes"``), numbers as text, ``null`` for empty lists and ``{}`` or ``[]`` for an empty
section. Every vendor's models build on these, so a fact means the same thing
whichever source reported it.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, Field

_TS_FORMATS = (
    "%Y-%m-%d %H:%M:%S %z",  # 2024-05-13 20:09:23 +0000 (installed profiles)
    "%Y-%m-%d %H:%M:%S.%f %z",
    "%b %d, %Y at %I:%M:%S %p",  # Feb 27, 2024 at 7:34:21 AM (EDR scans)
    "%b %d, %Y at %I:%M %p",
    "%Y-%m-%d",
)


def parse_timestamp(value: object) -> datetime | None:
    """Any timestamp shape the API uses, as an aware UTC datetime; ``""``/junk -> None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    parsed: datetime | None = None
    try:
        # Handles "...Z", "... 16:15:36.087016+00:00" and naive ISO values.
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for fmt in _TS_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


_TRUE = frozenset({"true", "yes", "1", "on", "enabled"})
_FALSE = frozenset({"false", "no", "0", "off", "disabled"})


def bool_word(
    text: str, true: frozenset[str] = _TRUE, false: frozenset[str] = _FALSE
) -> bool | None:
    """A yes/no word, read without regard to case or surrounding space; None for others."""
    word = text.strip().lower()
    return True if word in true else False if word in false else None


def parse_bool(value: object) -> bool | None:
    """``true``/``"True"``/``"Yes"``/``1`` -> True, their opposites -> False, else None."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    return bool_word(value) if isinstance(value, str) else None


def to_str(value: object) -> str:
    """Strings as they are; numbers as text; None and containers as ``""``."""
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_opt_str(value: object) -> str | None:
    return None if value is None else to_str(value)


def to_int(value: object) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(-?\d+)\s*", value)
        return int(match.group(1)) if match else None
    return None


def to_list(value: object) -> list[Any]:
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


def to_section(value: object) -> dict[str, Any]:
    """A section that should be an object: anything else (``[]``, ``""``, null) is empty."""
    return value if isinstance(value, dict) else {}


def to_optional_section(value: object) -> dict[str, Any] | None:
    return value if isinstance(value, dict) and value else None


def to_str_list(value: object) -> list[str]:
    return [to_str(v) for v in to_list(value) if v is not None]


Timestamp = Annotated[datetime | None, BeforeValidator(parse_timestamp)]
Bool = Annotated[bool | None, BeforeValidator(parse_bool)]
Str = Annotated[str, BeforeValidator(to_str)]
OptStr = Annotated[str | None, BeforeValidator(to_opt_str)]
Int = Annotated[int | None, BeforeValidator(to_int)]
StrList = Annotated[list[str], BeforeValidator(to_str_list)]
AnyDict = Annotated[dict[str, Any], BeforeValidator(to_section)]


ModelT = TypeVar("ModelT", bound=BaseModel)


def section_field(model: type[ModelT]) -> Any:
    """A field holding a sub-object; anything but an object parses as an empty one."""
    return Field(default_factory=model)


Section = BeforeValidator(to_section)
OptionalSection = BeforeValidator(to_optional_section)


def object_items(value: object) -> list[Any]:
    """A list of objects; null -> [], a lone object -> [object], non-objects dropped."""
    return [v for v in to_list(value) if isinstance(v, dict)]


Items = BeforeValidator(object_items)


def one_line(text: object) -> str:
    """``text`` on one line, without control or format characters.

    Names and notes come from the MDM: an escape sequence in one must not reach a
    terminal, and a newline must not break a table row.
    """
    out = []
    for ch in str(text):
        if ch in "\n\r\t":
            out.append(" ")
        elif unicodedata.category(ch) not in ("Cc", "Cf"):
            out.append(ch)
    return "".join(out).strip()
