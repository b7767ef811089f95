"""Field types several config sections share: weekdays, times of day, time zones, http(s)
URLs kept secret, bounded timeouts and names; each checked in one place, so a mistake is
reported in the same words wherever it is made."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, SecretStr

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

TimeOfDay = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
"""``HH:MM`` on a 24-hour clock."""

Name = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
"""The name of a receiver or a digest, as other sections refer to it."""


def _time_zone_exists(v: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {v!r}") from None
    return v


TimeZone = Annotated[str, AfterValidator(_time_zone_exists)]
"""An IANA time zone name (``Europe/Paris``)."""


def _is_http(v: SecretStr) -> SecretStr:
    if not v.get_secret_value().startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return v


HttpSecret = Annotated[SecretStr, AfterValidator(_is_http)]
"""An http(s) URL that may embed credentials or a check's identity."""


def up_to(limit: timedelta, spelled: str) -> AfterValidator:
    """A duration more than zero and at most ``limit`` (``spelled`` in the error)."""

    def check(v: timedelta) -> timedelta:
        if not timedelta(0) < v <= limit:
            raise ValueError(f"must be more than 0s and at most {spelled}")
        return v

    return AfterValidator(check)


def first_duplicate(items: Sequence[str]) -> str | None:
    """The first item seen twice, if any."""
    seen: set[str] = set()
    for item in items:
        if item in seen:
            return item
        seen.add(item)
    return None


def unique_names(what: str, names: Sequence[str]) -> None:
    """ValueError when two ``what`` share a name."""
    dup = first_duplicate(names)
    if dup:
        raise ValueError(f"two {what} are named {dup!r}; names must be unique")
