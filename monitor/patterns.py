"""User regular expressions: one engine, one meaning, everywhere.

Every regex a user writes (a rule's ``matches``/``not_matches``, a silence's ``=~``/``!~``,
a route's ``match_re``) is compiled here, with Google's RE2, which runs in time linear in
the length of the text whatever the pattern: a pattern such as ``([A-Za-z0-9]+[ -]?)+``
against a hostile device name cannot stall the daemon.

The meaning is the same in all three places, Alertmanager's: the pattern must match the
**whole** value (it is anchored at both ends), case-sensitively unless it says ``(?i)``.
``Lab.*`` matches ``Lab-12``; ``Lab`` alone does not. ``^`` and ``$`` are allowed and
change nothing.

The syntax is RE2's (https://github.com/google/re2/wiki/Syntax): Perl-style classes,
repetition, alternation, groups (also named, ``(?P<name>...)``) and flags (``(?i)``,
``(?s)``...). Back-references (``\\1``) and look-around (``(?=``, ``(?<=``...) are not
accepted: they are what makes a regex engine take exponential time. A pattern longer
than :data:`MAX_PATTERN` characters is refused.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

MAX_PATTERN = 1000
"""The longest pattern accepted, in characters."""

_MAX_MEM = 8 << 20  # bytes RE2 may use for one compiled pattern


class PatternError(ValueError):
    """A pattern RE2 does not accept; the message says why."""


class Pattern:
    """A compiled, anchored pattern: :meth:`matches` tells whether a whole value matches."""

    __slots__ = ("_regex", "text")

    def __init__(self, text: str, regex: Any) -> None:
        self.text = text
        self._regex = regex

    def matches(self, value: str) -> bool:
        """Whether the whole of ``value`` matches."""
        return self._regex.fullmatch(value) is not None

    def __repr__(self) -> str:
        return f"Pattern({self.text!r})"


@lru_cache(maxsize=1024)
def compile_pattern(text: str) -> Pattern:
    """Compile ``text`` (RE2 syntax, whole-value match) or raise :class:`PatternError`."""
    if len(text) > MAX_PATTERN:
        raise PatternError(f"longer than {MAX_PATTERN} characters")
    options = re2.Options()
    options.log_errors = False
    options.max_mem = _MAX_MEM
    try:
        regex = re2.compile(text, options)
    except re2.error as exc:
        raise PatternError(_reason(exc)) from None
    return Pattern(text, regex)


def pattern_problem(text: str) -> str | None:
    """Why ``text`` is not an accepted pattern, or None."""
    try:
        compile_pattern(text)
    except PatternError as exc:
        return str(exc)
    return None


def _reason(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else exc
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    text = str(detail)
    if "invalid perl operator" in text or "invalid escape" in text:
        text += " (RE2 syntax: no back-references, no look-around)"
    return f"invalid regex: {text}"
