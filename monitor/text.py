"""Text that comes from outside (MDM APIs, end users naming their devices), made safe.

Where API data becomes the shared models (:mod:`monitor.models`), every string goes
through here, so what the rules, the database, the status page and the messages see is:

- bounded: a one-line field (a name, a serial, a status, an id) keeps at most
  :data:`MAX_FIELD` characters, a free-text value (an item's log) :data:`MAX_TEXT`;
  a cut string ends with ``…``;
- free of control characters (NUL, ESC and terminal escape sequences, CR, LF in one-line
  fields) and of the invisible Unicode format characters that reorder or hide text (bidi
  overrides and isolates, zero-width joiners): each becomes a space or goes;
- free of secrets: a registered secret (a token an API echoes into a device name) is
  replaced by ``**********`` before it is stored or shown.

This module is a leaf: :mod:`monitor.log` keeps its secret registry here.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

MAX_FIELD = 256
"""Characters kept of a one-line field from an API (names, serials, ids, statuses)."""

MAX_TEXT = 4096
"""Characters kept of a free-text value from an API (logs, descriptions)."""

REDACTED = "**********"

MIN_SECRET = 4
"""Shorter values are not registered: redacting them would garble ordinary text."""

_SECRETS: set[str] = set()
_ordered: list[str] = []


def add_secret(value: str) -> None:
    """Remember ``value`` as a secret to redact (ignored when shorter than MIN_SECRET)."""
    global _ordered
    if len(value) >= MIN_SECRET and value not in _SECRETS:
        _SECRETS.add(value)
        _ordered = sorted(_SECRETS, key=len, reverse=True)


def secrets() -> Iterable[str]:
    """The registered secrets, longest first."""
    return _ordered


def redact(text: str) -> str:
    """Replace every registered secret in ``text`` (longest first, so a URL goes whole)."""
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


#: What free text keeps of the characters ``str.isprintable`` refuses.
_KEPT_BREAKS = {ord("\n"): None, ord("\t"): None}


def _unsafe(ch: str, keep_newlines: bool) -> bool:
    if keep_newlines and ch in "\n\t":
        return False
    category = unicodedata.category(ch)
    # Cc: controls (NUL, ESC, CR, LF...); Cf: format (bidi overrides, zero-width...);
    # Zl/Zp: line and paragraph separators, which end a line like LF does.
    return category in ("Cc", "Cf", "Zl", "Zp")


def clean_line(value: str, limit: int = MAX_FIELD) -> str:
    """A one-line field: controls and format characters out, secrets redacted, bounded."""
    if len(value) > 4 * limit:
        value = value[: 4 * limit]  # no work proportional to a hostile length
    if not value.isprintable():
        value = "".join(" " if _unsafe(ch, False) else ch for ch in value)
    value = redact(value)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def clean_text(value: str, limit: int = MAX_TEXT) -> str:
    """Free text: like :func:`clean_line` but line breaks and tabs are kept."""
    if len(value) > 4 * limit:
        value = value[: 4 * limit]
    # Most text (an item's log) is printable but for its line breaks and tabs: checked
    # at C speed first, character by character only when something else is there.
    if not value.isprintable() and not value.translate(_KEPT_BREAKS).isprintable():
        value = "".join(" " if _unsafe(ch, True) else ch for ch in value)
    value = redact(value)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def one_line(value: str) -> str:
    """``value`` on one line: every control, separator and format character a space."""
    if value.isprintable():
        return value
    return "".join(" " if _unsafe(ch, False) else ch for ch in value)
