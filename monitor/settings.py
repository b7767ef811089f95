"""Settings shared by the config and every source package: strict models, durations, and
what every source has (name, URL, token, budget, retries).

A leaf module (it imports no other part of the monitor but :mod:`monitor.errors`), so a
source package can define its config model here-on without importing
:mod:`monitor.config`, which builds its union of source configs from the registry.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from monitor.errors import TokenFileError

# --------------------------------------------------------------------------- helpers

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_DURATION_PART_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _seconds(amount: float) -> timedelta:
    """``amount`` seconds; ValueError (not OverflowError) when no timedelta can hold it."""
    try:
        return timedelta(seconds=amount)
    except (OverflowError, ValueError):
        raise ValueError(
            f"a duration must be a finite number of seconds under {_MAX_DAYS} days"
        ) from None


_MAX_DAYS = timedelta.max.days


def parse_duration(value: object) -> timedelta:
    """Parse ``30s``, ``5m``, ``1h30m``, ``7d``, or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m, 1h or 7d")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        try:
            return _seconds(float(value))
        except OverflowError:  # an int too large for a float
            raise ValueError("a duration this long is not a duration") from None
    if isinstance(value, str):
        m = _DURATION_RE.match(value)
        if m:
            return _seconds(float(m.group(1)) * _UNIT_SECONDS[m.group(2) or "s"])
        compact = value.replace(" ", "")
        parts = _DURATION_PART_RE.findall(compact)
        if parts and "".join(n + u for n, u in parts) == compact:
            return _seconds(sum(float(n) * _UNIT_SECONDS[u] for n, u in parts))
    raise ValueError(f"expected a duration such as 30s, 5m, 1h or 7d, got {value!r}")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class Strict(BaseModel):
    """Base of every config model: unknown keys are errors, values are not coerced loosely."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --------------------------------------------------------------------------- sources


class BudgetConfig(Strict):
    """The request budget of one source (one tenant).

    ``requests_per_hour`` is what this monitor may spend of the tenant's hourly limit
    (Kandji: 10,000 per hour per tenant, shared with every other integration);
    ``burst_per_second`` caps the instantaneous rate (Kandji's gateway allows 50/s);
    ``concurrency`` caps requests in flight. Retries count against the budget.
    ``tenant_reserve`` is the share of the tenant's hourly limit (as the vendor's
    rate-limit headers tell it) this monitor leaves untouched for the tenant's other
    integrations: it plans and slows down so the tenant keeps at least that much.
    """

    requests_per_hour: int = Field(default=5000, ge=1, le=1_000_000)
    burst_per_second: float = Field(default=10.0, gt=0, le=1000)
    concurrency: int = Field(default=8, ge=1, le=256)
    tenant_reserve: float = Field(default=0.05, ge=0.0, le=0.5)


class RetryConfig(Strict):
    """Retries on 429, 5xx, timeouts and resets: exponential backoff with full jitter."""

    max_attempts: int = Field(default=5, ge=1, le=20)
    backoff_base: Duration = timedelta(seconds=1)
    backoff_max: Duration = timedelta(seconds=60)
    max_retry_after: Duration = timedelta(minutes=5)


class SourceBase(Strict):
    """Settings every source has."""

    kind: str
    """Which source this is (each source's model narrows it to its own Literal)."""
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    url: str = Field(min_length=1)
    token: SecretStr | None = None
    token_file: Path | None = None
    interval: Duration = timedelta(minutes=5)
    timeout: Duration = timedelta(seconds=30)
    budget: BudgetConfig = BudgetConfig()
    retry: RetryConfig = RetryConfig()
    unhealthy_after: Duration = timedelta(minutes=15)
    console_url: str | None = None
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @field_validator("console_url")
    @classmethod
    def _console_is_http(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not v.lower().startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        if any(ch.isspace() or not ch.isprintable() for ch in v):
            raise ValueError("holds a space or a control character")
        return v

    @field_validator("token")
    @classmethod
    def _token_is_one_word(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            problem = token_problem(v.get_secret_value())
            if problem:
                raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _one_token(self) -> SourceBase:
        if (self.token is None) == (self.token_file is None):
            raise ValueError("give exactly one of token or token_file")
        return self

    def resolve_token(self) -> SecretStr:
        """The token, read from ``token_file`` when that is how it was given.

        A missing, unreadable or empty file, or one holding more than one line, raises
        :class:`~monitor.errors.TokenFileError` naming the key, never the content.
        """
        if self.token is not None:
            return self.token
        assert self.token_file is not None
        key = f"sources.{self.name}.token_file"
        try:
            with self.token_file.open("rb") as fh:
                raw = fh.read(MAX_TOKEN_FILE_BYTES + 1)
        except OSError as exc:
            raise TokenFileError(
                str(self.token_file), key, exc.strerror or "unreadable"
            ) from None
        if len(raw) > MAX_TOKEN_FILE_BYTES:
            raise TokenFileError(
                str(self.token_file), key, f"larger than {MAX_TOKEN_FILE_BYTES} bytes"
            )
        try:
            token = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise TokenFileError(str(self.token_file), key, "not UTF-8 text") from None
        problem = token_problem(token)
        if problem:
            raise TokenFileError(str(self.token_file), key, problem)
        return SecretStr(token)


MAX_TOKEN_FILE_BYTES = 16_384
"""A token file larger than this is not a token file."""


def token_problem(token: str) -> str | None:
    """What is wrong with a bearer token's text, or None (never quotes the token)."""
    if not token:
        return "is empty (an unset environment variable?)"
    if "\r" in token or "\n" in token:
        return "holds a line break (CR or LF): a header cannot carry it"
    if any(ch.isspace() or not ch.isprintable() for ch in token):
        return "holds a space or a control character"
    return None
