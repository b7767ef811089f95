"""Reading an MDM's non-2xx answers, mixed into :class:`~monitor.sources.http.ApiClient`.

Error bodies have no common shape (arrays of strings, bare strings, ``{"detail"}``, HTML
pages), so :meth:`Answers.status_error` branches on the status code only and quotes a
short, sanitised excerpt of the body (tags stripped, the token masked); a 429 or 5xx
carries the ``Retry-After`` the server gave (seconds or an HTTP date).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from monitor.clock import Clock
from monitor.errors import (
    AuthError,
    ClientRequestError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    SourceError,
)
from monitor.sources.retry import parse_retry_after

EXCERPT_CHARS = 160
_TAG_RE = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)
_SPACE_RE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Response:
    """One complete HTTP answer, read: what :meth:`ApiClient.status_error` is given."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    content_type: str


class Answers:
    """Error translation by status; the class it is mixed into sets these attributes."""

    source: str
    clock: Clock
    _token: SecretStr

    def status_error(self, method: str, endpoint: str, response: Response) -> SourceError:
        """The error a non-2xx answer raises, chosen by its HTTP status alone.

        A source whose API has an error body worth reading overrides this (calling it
        for the status's class and its ``retry_after``); the retry decision follows the
        class returned.
        """
        status = response.status
        message = f"{self.source}: {method} {endpoint} answered {status}"
        excerpt = self.excerpt(response.body)
        if excerpt:
            message += f": {excerpt}"
        kwargs: dict[str, Any] = {"source": self.source, "endpoint": endpoint, "status": status}
        if status == 429:
            return RateLimitedError(message, retry_after=self._retry_after(response), **kwargs)
        if status >= 500:
            return ServerError(message, retry_after=self._retry_after(response), **kwargs)
        if status == 401:
            return AuthError(message, **kwargs)
        if status == 403:
            return PermissionDeniedError(message, **kwargs)
        if status == 404:
            return NotFoundError(message, **kwargs)
        if 400 <= status < 500:
            return ClientRequestError(message, **kwargs)
        # 1xx leftovers and 3xx (redirects are not followed: a token must not travel).
        return MalformedResponseError(message, **kwargs)

    def _retry_after(self, response: Response) -> float | None:
        """Seconds from ``Retry-After`` (seconds or HTTP date), else Kong's RateLimit-Reset."""
        lowered = {k.lower(): v for k, v in response.headers.items()}
        value = lowered.get("retry-after")
        if value is not None:
            seconds = parse_retry_after(value, self.clock.now())
            if seconds is not None:
                return seconds
        reset = lowered.get("ratelimit-reset")
        if reset is not None:
            try:
                return max(0.0, float(reset))
            except ValueError:
                return None
        return None

    def excerpt(self, body: bytes) -> str:
        """A short one-line excerpt of an error body: tags stripped, token masked."""
        text = body[:4096].decode("utf-8", errors="replace")
        text = html.unescape(_TAG_RE.sub(" ", text))
        text = "".join(ch if ch.isprintable() else " " for ch in text)
        text = _SPACE_RE.sub(" ", text).strip()
        secret = self._token.get_secret_value()
        if secret:
            text = text.replace(secret, "***")
        if len(text) > EXCERPT_CHARS:
            text = text[: EXCERPT_CHARS - 1] + "…"
        return text


__all__ = ["EXCERPT_CHARS", "Answers", "Response"]
