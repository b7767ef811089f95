"""structlog set-up: human console output on a TTY, one JSON object per line otherwise.

A last processor redacts every registered secret from every event, whatever key it hides
under, so a token that slips into an exception message still never reaches the output;
the rendered line is redacted once more, since a console renderer formats tracebacks
itself, after the processors ran. Records of the stdlib loggers (aiohttp, apprise) are
redacted with their traceback included.

A registered URL (an apprise URL) also registers the parts of it that are credentials:
the password, ``user:password``, and the path segments, query values and host names
that look like tokens (``slack://T0KENA/T0KENB/...``), so that a message quoting only a
piece of the URL is redacted too.
"""

from __future__ import annotations

import io
import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, Literal, TextIO, cast
from urllib.parse import parse_qsl, quote, unquote

import structlog

from monitor.text import _SECRETS, MIN_SECRET, REDACTED, add_secret
from monitor.text import redact as redact

__all__ = ["MIN_SECRET", "REDACTED", "configure_logging", "redact", "register_secret"]


def register_secret(value: str | None) -> None:
    """Remember a secret value so that the log output never shows it.

    A URL's credentials are remembered as well (see the module docstring).
    """
    if not value or len(value) < MIN_SECRET:
        return
    add_secret(value)
    if "://" in value:
        for part in url_credentials(value):
            add_secret(part)


def _tokenish(text: str) -> bool:
    """Whether a URL part looks like a credential rather than a word or a host name."""
    if len(text) >= 16 and "." not in text:
        return True
    has_digit = any(c.isdigit() for c in text)
    has_alpha = any(c.isalpha() for c in text)
    return len(text) >= 8 and has_digit and has_alpha and "." not in text


_URL_PARTS = re.compile(r"([^/?#]*)([^?#]*)(?:\?([^#]*))?")


def url_credentials(url: str) -> set[str]:
    """The parts of ``url`` that are (or may be) credentials, raw and unquoted.

    Read by hand rather than with ``urlsplit``: apprise URLs are often not valid URLs
    (``tgram://123456:ABC.../chat`` has a "port" that is half a bot token).
    """
    scheme, _, rest = url.partition("://")
    out: set[str] = {rest}
    match = _URL_PARTS.match(rest)
    netloc, path, query = (match.group(1), match.group(2), match.group(3) or "") if match else (
        rest, "", ""
    )
    userinfo, at, hostport = netloc.rpartition("@")
    if at:
        _user, colon, password = userinfo.partition(":")
        if colon and password:
            out.update((userinfo, unquote(userinfo), password, unquote(password)))
        elif _tokenish(userinfo):  # a key given as the user (pover://USERKEY@TOKEN)
            out.update((userinfo, unquote(userinfo)))
    host = hostport.rsplit(":", 1)[0] if hostport.count(":") == 1 else hostport
    for candidate in (hostport, host):
        if _tokenish(candidate):
            out.add(candidate)
    for segment in path.split("/"):
        for piece in (segment, unquote(segment)):
            if _tokenish(piece):
                out.add(piece)
    for _key, value in parse_qsl(query, keep_blank_values=False):
        if _tokenish(value):
            out.update((value, quote(value, safe="")))
    out.discard(scheme)
    return {p for p in out if p}


def register_secrets(values: Iterable[str | None]) -> None:
    """Register several secrets at once."""
    for v in values:
        register_secret(v)


class _RedactedRenderer:
    """Runs a renderer, then redacts what it wrote (tracebacks included)."""

    def __init__(self, renderer: Any) -> None:
        self._renderer = renderer

    def __call__(self, logger: Any, name: str, event: MutableMapping[str, Any]) -> Any:
        rendered = self._renderer(logger, name, event)
        if isinstance(rendered, str) and _SECRETS:
            return redact(rendered)
        return rendered


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
    # Without an explicit stream, write to whatever sys.stderr is at the time of each
    # line, not the object it was at start (a test harness swaps and closes it).
    sink: TextIO = out if stream is not None else cast(TextIO, _CurrentStderr())
    structlog.configure(
        processors=[*shared, *exc, _redact_processor, _RedactedRenderer(renderer)],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=sink),
        cache_logger_on_first_use=False,
    )
    # Libraries that use the stdlib logger (apprise, aiohttp) go to the same stream,
    # at warning and above, through the same redaction.
    handler = logging.StreamHandler(sink)
    handler.addFilter(_StdlibRedactFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(lvl, logging.WARNING))


class _CurrentStderr(io.TextIOBase):
    """A text stream that writes to the current ``sys.stderr``."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


class _StdlibRedactFilter(logging.Filter):
    """Redacts a stdlib record, its traceback and stack folded into the message."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self._formatter.formatException(record.exc_info)
        elif record.exc_text:
            message += "\n" + record.exc_text
        if record.stack_info:
            message += "\n" + self._formatter.formatStack(record.stack_info)
        record.msg = redact(message)
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True
