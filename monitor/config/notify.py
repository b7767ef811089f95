"""How messages go out: notices to device owners (grace, send window, reminders,
escalation), periodic digests, and delivery from the persistent outbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator, model_validator

from monitor.config.fields import WEEKDAYS, Name, TimeOfDay, TimeZone, Weekday
from monitor.patterns import pattern_problem
from monitor.settings import Duration, Strict


class SendWindowConfig(Strict):
    """Days and hours in a time zone when owner notices may go out."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]))
    start: TimeOfDay = "09:00"
    end: TimeOfDay = "17:00"
    timezone: TimeZone = "UTC"


class EscalationConfig(Strict):
    """When an owner's item goes to IT: ``after`` this long since the first notice, or
    once ``reminders`` reminders went unanswered (whichever comes first)."""

    receiver: str = Field(min_length=1)
    after: Duration | None = None
    reminders: int | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def _has_trigger(self) -> EscalationConfig:
        if self.after is None and self.reminders is None:
            raise ValueError("escalate needs `after`, `reminders` or both")
        return self


class OwnerPolicy(Strict):
    """How a receiver speaks to device owners (``receivers[].owner``)."""

    grace: Duration = timedelta(hours=4)
    window: SendWindowConfig | None = None
    remind_every: Duration | None = timedelta(days=2)
    escalate: EscalationConfig | None = None
    max_per_day: int = Field(default=1, ge=1, le=100)
    max_items: int = Field(default=50, ge=1, le=1000)


class DigestScheduleConfig(Strict):
    """When a digest goes out: ``days`` at ``at`` in ``timezone``."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:1]), min_length=1)
    at: TimeOfDay = "09:00"
    timezone: TimeZone = "UTC"


class DigestScopeConfig(Strict):
    """Which alerts a digest covers: routes (by receiver name) and/or label matches."""

    receivers: list[str] = Field(default_factory=list)
    match: dict[str, str] = Field(default_factory=dict)
    match_re: dict[str, str] = Field(default_factory=dict)

    @field_validator("match_re")
    @classmethod
    def _regexes_compile(cls, v: dict[str, str]) -> dict[str, str]:
        for name, pattern in v.items():
            problem = pattern_problem(pattern)
            if problem is not None:
                raise ValueError(f"{name}: invalid regex: {problem}")
        return v


class DigestConfig(Strict):
    """A periodic summary sent to one receiver (``digests:``)."""

    name: Name
    receiver: str = Field(min_length=1)
    schedule: DigestScheduleConfig = DigestScheduleConfig()
    period: Duration = timedelta(days=7)
    trend_days: int = Field(default=30, ge=2, le=366)
    scope: DigestScopeConfig = DigestScopeConfig()
    oldest: int = Field(default=10, ge=0, le=100)
    # Where the trend chart can be seen, for receivers that take no attachment.
    chart_link: str | None = None


class OutboxConfig(Strict):
    """Delivery from the persistent outbox."""

    max_attempts: int = Field(default=48, ge=1, le=1000)
    backoff_base: Duration = timedelta(seconds=10)
    backoff_max: Duration = timedelta(hours=1)
    poll_interval: Duration = timedelta(seconds=2)
    send_timeout: Duration = timedelta(seconds=30)
    # Messages in flight at once. One means a crash can duplicate at most one message
    # (the one being sent); more deliver faster to many receivers at the price of up to
    # that many duplicates per crash.
    parallel: int = Field(default=1, ge=1, le=64)


class NotifyConfig(Strict):
    """How findings become messages."""

    first_start: Literal["announce", "baseline"] = "announce"
    outbox: OutboxConfig = OutboxConfig()
