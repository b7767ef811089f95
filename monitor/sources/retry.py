"""The one retry policy of every request to an MDM (see :class:`RetryPolicy`).

:class:`~monitor.sources.http.ApiClient` asks :meth:`RetryPolicy.delay` after each
failed attempt and sleeps what it says on the injected clock; no other layer retries.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from monitor.clock import utc
from monitor.errors import (
    BudgetExhaustedError,
    MalformedResponseError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    SourceError,
    TransportError,
)
from monitor.settings import RetryConfig

# Methods whose effect does not depend on how many times they are sent.
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to send a request again, and after how long: the one retry policy.

    ``max_attempts`` bounds the sends of one request (the first included); between
    them, ``Retry-After`` when the server gave one (no retry when it asks for longer
    than ``max_retry_after``), else exponential backoff with full jitter from
    ``backoff_base`` up to ``backoff_max`` seconds.
    """

    max_attempts: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    max_retry_after: float = 300.0

    @classmethod
    def from_config(cls, config: RetryConfig) -> RetryPolicy:
        """The policy a source's ``retry`` settings describe."""
        return cls(
            max_attempts=config.max_attempts,
            backoff_base=config.backoff_base.total_seconds(),
            backoff_max=config.backoff_max.total_seconds(),
            max_retry_after=config.max_retry_after.total_seconds(),
        )

    def delay(
        self,
        error: SourceError,
        *,
        method: str,
        attempt: int,
        rng: random.Random,
        unusable_is_glitch: bool = False,
        absent_is_glitch: bool = False,
    ) -> float | None:
        """Seconds to wait before sending attempt ``attempt + 1``, or None to give up.

        ``unusable_is_glitch``: an unusable 2xx answer (MalformedResponseError) is
        asked again; ``absent_is_glitch``: so is a 404. Both only for idempotent methods.
        """
        if attempt >= self.max_attempts:
            return None
        idempotent = method.upper() in IDEMPOTENT
        if isinstance(error, MalformedResponseError):
            if not (unusable_is_glitch and idempotent):
                return None  # garbage tends to stay garbage unless the caller knows better
        elif isinstance(error, NotFoundError):
            if not (absent_is_glitch and idempotent):
                return None
        elif not error.retryable or isinstance(error, BudgetExhaustedError):
            return None  # a spent budget is the caller's to wait out
        elif not idempotent and not _server_did_not_act(error):
            return None
        if error.retry_after is not None:
            # Asked to wait longer than we hold a call open: the caller decides.
            return error.retry_after if error.retry_after <= self.max_retry_after else None
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        return rng.uniform(0.0, ceiling)


class NotConnectedError(TransportError):
    """The connection was never established, so the server cannot have acted."""


def _server_did_not_act(error: SourceError) -> bool:
    """True when a non-idempotent request certainly had no effect, so it may be resent."""
    return isinstance(error, RateLimitedError | NotConnectedError) or (
        isinstance(error, ServerError) and error.status == 503
    )


def parse_retry_after(value: str, now: datetime) -> float | None:
    """``Retry-After`` as seconds from ``now``: delta-seconds or an HTTP date."""
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, (utc(when) - now).total_seconds())



__all__ = ["IDEMPOTENT", "NotConnectedError", "RetryPolicy", "parse_retry_after"]
