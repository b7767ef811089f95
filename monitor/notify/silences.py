"""Silences: label matchers over a time span, fixed or recurring.

A silenced alert keeps its state (it is evaluated, stored and shown); it is only left
out of messages. When the silence ends, whatever still fires and was never announced is
announced by the next evaluation of its group.

Silences come from two places: the config (fixed or recurring maintenance windows) and
the store (added at run time; the pipeline reads them on every evaluation, so a running
daemon honours a new silence without a restart). :class:`SilencesInForce` is the one
place that puts the two together, for the notification planner, the status page and the
``status`` command alike.

A matcher naming a label no alert has, or a severity that does not exist, is an error
(:func:`matcher_problem`), in the config as on the command line: a typo must not make a
silence that quietly mutes nothing, or everything.

Recurring windows are evaluated in their own time zone: ``22:00-06:00`` on ``fri``
covers Friday 22:00 to Saturday 06:00 local time, through daylight-saving changes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Protocol
from zoneinfo import ZoneInfo

from monitor.clock import utc
from monitor.config import RecurringWindow, SilenceConfig
from monitor.errors import ConfigError
from monitor.patterns import compile_pattern, pattern_problem
from monitor.store.base import Matcher, SilenceRecord

DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


SEVERITIES = ("info", "warning", "critical")


def matcher_problem(
    name: str, op: str, value: str, known_labels: Collection[str]
) -> str | None:
    """What is wrong with a matcher, or None: a regex RE2 refuses, a label no alert has
    (a typo would make a silence that mutes nothing, or everything with ``!=``), a
    severity that does not exist."""
    if op in ("=~", "!~"):
        problem = pattern_problem(value)
        if problem:
            return problem
    if name not in known_labels:
        near = ", ".join(sorted(known_labels))
        return f"no alert has a label {name!r} (labels: {near})"
    if name == "severity":
        if op in ("=", "!=") and value not in SEVERITIES:
            return f"severity is one of {', '.join(SEVERITIES)}, not {value!r}"
        if op in ("=~", "!~") and not any(compile_pattern(value).matches(s) for s in SEVERITIES):
            return f"{value!r} matches no severity ({', '.join(SEVERITIES)})"
    return None


def matcher_matches(matcher: Matcher, labels: Mapping[str, str]) -> bool:
    """Whether one matcher holds; a missing label is the empty string, regexes match the
    whole value (RE2, the same meaning as a rule's ``matches``: :mod:`monitor.patterns`)."""
    value = labels.get(matcher.name, "")
    if matcher.op == "=":
        return value == matcher.value
    if matcher.op == "!=":
        return value != matcher.value
    found = compile_pattern(matcher.value).matches(value)
    return found if matcher.op == "=~" else not found


def window_active(window: RecurringWindow, now: datetime) -> bool:
    """Whether the recurring ``window`` covers ``now``.

    A window whose end is not after its start crosses midnight: it belongs to the day
    it starts on. A window whose start equals its end lasts the whole day.
    """
    local = utc(now).astimezone(ZoneInfo(window.timezone))
    start, end = _hhmm(window.start), _hhmm(window.end)
    clock = local.time().replace(tzinfo=None)
    today = DAY_NAMES[local.weekday()]
    yesterday = DAY_NAMES[(local.weekday() - 1) % 7]
    days = set(window.days)
    if start == end:
        return today in days
    if start < end:
        return today in days and start <= clock < end
    return (today in days and clock >= start) or (yesterday in days and clock < end)


def _hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True, slots=True)
class Silence:
    """A silence from either origin, ready to evaluate.

    ``id`` is ``config:N`` or ``store:N``. Without ``starts_at``/``ends_at`` a silence
    has no fixed bound; with ``every`` it is active only inside the recurring window.
    """

    id: str
    matchers: tuple[Matcher, ...]
    comment: str = ""
    author: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    every: RecurringWindow | None = None

    def active(self, now: datetime) -> bool:
        """Whether the silence is in force at ``now``."""
        if self.starts_at is not None and now < self.starts_at:
            return False
        if self.ends_at is not None and now >= self.ends_at:
            return False
        return self.every is None or window_active(self.every, now)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether every matcher holds for ``labels``."""
        return all(matcher_matches(m, labels) for m in self.matchers)


def from_config(config: SilenceConfig, index: int) -> Silence:
    """A :class:`Silence` from a config entry; a bad timestamp is a ConfigError."""
    return Silence(
        id=f"config:{index}",
        matchers=tuple(Matcher(m.name, m.op, m.value) for m in config.matchers),
        comment=config.comment,
        author=config.author,
        starts_at=_parse_when(config.starts_at, f"silences.{index}.starts_at"),
        ends_at=_parse_when(config.ends_at, f"silences.{index}.ends_at"),
        every=config.every,
    )


def from_record(record: SilenceRecord) -> Silence:
    """A :class:`Silence` from a stored one."""
    return Silence(
        id=f"store:{record.id}",
        matchers=record.matchers,
        comment=record.comment,
        author=record.author,
        starts_at=record.starts_at,
        ends_at=record.ends_at,
    )


def _parse_when(value: str | None, key_path: str) -> datetime | None:
    if value is None:
        return None
    try:
        return utc(datetime.fromisoformat(value))
    except ValueError:
        raise ConfigError(
            "config", key_path, f"expected an ISO 8601 timestamp, got {value!r}"
        ) from None


class Silencer:
    """Answers "is this alert silenced now?" for a fixed set of silences."""

    def __init__(self, silences: Iterable[Silence]) -> None:
        self._silences: Sequence[Silence] = tuple(silences)

    def __len__(self) -> int:
        return len(self._silences)

    def silenced_by(self, labels: Mapping[str, str], now: datetime) -> Silence | None:
        """The first active silence matching ``labels``, or None."""
        for silence in self._silences:
            if silence.active(now) and silence.matches(labels):
                return silence
        return None


class StoredSilences(Protocol):
    """Where silences added at run time are kept (the store)."""

    async def silences(
        self, now: datetime | None = None, *, include_expired: bool = False
    ) -> list[SilenceRecord]:
        """Stored silences; without include_expired, those not ended at ``now``."""
        ...


class SilencesInForce:
    """The silences that count: the config's, then those stored at run time (not ended)."""

    def __init__(self, configured: Sequence[SilenceConfig], stored: StoredSilences) -> None:
        self._configured = tuple(from_config(s, i) for i, s in enumerate(configured))
        self._stored = stored

    async def listed(self, now: datetime) -> list[Silence]:
        """Every silence not ended at ``now`` (upcoming ones included), config first."""
        records = await self._stored.silences(now, include_expired=False)
        return [*self._configured, *(from_record(r) for r in records)]

    async def silencer(self, now: datetime) -> Silencer:
        """A :class:`Silencer` over :meth:`listed` at ``now``."""
        return Silencer(await self.listed(now))
