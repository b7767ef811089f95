"""structlog set-up: human console output on a TTY, one JSON object per line otherwise.

A last processor redacts every registered secret from every event, whatever key it hides
under, so a token that slips into an exception message still never reaches the output.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, Literal, TextIO

import structlog

_SECRETS: set[str] = set()
REDACTED = "**********"


def register_secret(value: str | None) -> None:
    """Remember a secret value so that the log output never shows it."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def register_secrets(values: Iterable[str | None]) -> None:
    """Register several secrets at once."""
    for v in values:
        register_secret(v)


def redact(text: str) -> str:
    """Replace every registered secret in ``text``."""
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _redact_processor(
    _logger: Any, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    if not _SECRETS:
        return event
    for key, value in list(event.items()):
        if isinstance(value, str):
            event[key] = redact(value)
        elif not isinstance(value, int | float | bool) and value is not None:
            text = str(value)
            red = redact(text)
            if red != text:
                event[key] = red
    return event


def configure_logging(
    level: str = "info",
    fmt: Literal["auto", "console", "json"] = "auto",
    stream: TextIO | None = None,
) -> None:
    """Configure structlog (and the stdlib root logger, for libraries) once, at start."""
    out = stream or sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    lvl = logging.getLevelNamesMapping()[level.upper()]
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if use_console:
        renderer = structlog.dev.ConsoleRenderer(colors=out.isatty())
        exc: list[Any] = []
    else:
        renderer = structlog.processors.JSONRenderer()
        exc = [structlog.processors.format_exc_info]
    structlog.configure(
        processors=[*shared, *exc, _redact_processor, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    # Libraries that use the stdlib logger (apprise, aiohttp) go to the same stream,
    # at warning and above, through the same redaction.
    handler = logging.StreamHandler(out)
    handler.addFilter(_StdlibRedactFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(lvl, logging.WARNING))


class _StdlibRedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True
