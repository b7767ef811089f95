"""Where alerts go: receivers (apprise URLs, the console, an Alertmanager), the route
tree that picks them, silences written in the config, and inhibition by device state."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from monitor.config.fields import (
    WEEKDAYS,
    HttpSecret,
    Name,
    TimeOfDay,
    TimeZone,
    Weekday,
    up_to,
)
from monitor.config.notify import OwnerPolicy
from monitor.patterns import pattern_problem
from monitor.settings import Duration, Strict


class AlertmanagerTarget(Strict):
    """A Prometheus Alertmanager the receiver posts its alerts to (``/api/v2/alerts``).

    ``url`` is the Alertmanager's base URL (``http://alertmanager:9093``; it may carry
    credentials, so it is a secret). ``labels`` are added to every alert (e.g.
    ``{team: endpoint}``). A firing alert is posted with an ``endsAt`` of
    ``resolve_after`` from now; the route's repeat messages post it again before that,
    so it only expires on its own when the monitor stops talking.
    """

    url: HttpSecret
    timeout: Annotated[Duration, up_to(timedelta(minutes=2), "2m")] = timedelta(seconds=10)
    labels: dict[str, str] = Field(default_factory=dict)
    resolve_after: Duration = timedelta(hours=12)

    @field_validator("labels")
    @classmethod
    def _label_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", name):
                raise ValueError(f"{name!r} is not a Prometheus label name")
        return v


class ReceiverConfig(Strict):
    """A named receiver: a list of apprise URLs, and/or the console, or an Alertmanager.

    ``urls`` are apprise URLs (``slack://``, ``mailto://``, ``json://``, ``msteams://``,
    ``pagerduty://``...). They often embed credentials, so they are secrets.
    ``alertmanager`` posts the alerts themselves (labels, annotations, start and end)
    to a Prometheus Alertmanager instead of a rendered message; it stands alone.
    """

    name: Name
    urls: list[SecretStr] = Field(default_factory=list)
    console: bool = False
    send_resolved: bool = True
    format: Literal["text", "markdown", "html"] | None = None
    title_template: str | None = None
    body_template: str | None = None
    max_devices: int = Field(default=20, ge=1, le=1000)
    alertmanager: AlertmanagerTarget | None = None
    # Owner notices: each message goes to the device's assigned user (see OwnerPolicy).
    owner: OwnerPolicy | None = None

    @field_validator("urls")
    @classmethod
    def _urls_are_one_line(cls, v: list[SecretStr]) -> list[SecretStr]:
        for i, url in enumerate(v):
            raw = url.get_secret_value()
            if not raw.strip():
                raise ValueError(f"urls.{i}: is empty (an unset environment variable?)")
            if any(not ch.isprintable() for ch in raw):
                raise ValueError(f"urls.{i}: holds a line break or a control character")
        return v

    @model_validator(mode="after")
    def _has_target(self) -> ReceiverConfig:
        if self.alertmanager is not None:
            if self.urls or self.console:
                raise ValueError("an alertmanager receiver takes no urls and no console")
            if self.owner is not None:
                raise ValueError("an alertmanager receiver cannot speak to device owners")
            return self
        if not self.urls and not self.console:
            raise ValueError(
                "a receiver needs at least one url, console: true or an alertmanager"
            )
        if self.owner is not None:
            schemes = {u.get_secret_value().split("://", 1)[0].lower() for u in self.urls}
            if not self.urls or not schemes <= {"mailto", "mailtos"}:
                raise ValueError(
                    "an owner receiver needs mailto:// or mailtos:// urls only "
                    "(their `to` is filled per owner)"
                )
        return self


class AgeMatch(Strict):
    """Matches alerts by age, the time since they started firing (``over``: at least
    this old; ``under``: younger than this). An alert that grows past ``over`` leaves
    the routes it matched before and is announced on this one as ``escalated``."""

    over: Duration | None = None
    under: Duration | None = None

    @model_validator(mode="after")
    def _bounds(self) -> AgeMatch:
        if self.over is None and self.under is None:
            raise ValueError("give over, under or both")
        if self.over is not None and self.under is not None and self.over >= self.under:
            raise ValueError("over must be shorter than under")
        return self


class RouteConfig(Strict):
    """A node of the route tree (Alertmanager-style).

    A route matches when every ``match`` label equals and every ``match_re`` label
    fully matches its regex, and the alert's age is within ``age``. Children are tried
    in order; the first that matches wins
    unless it has ``continue: true``. Unset timing and grouping options inherit from the
    parent.
    """

    receiver: str | None = None
    match: dict[str, str] = Field(default_factory=dict)
    match_re: dict[str, str] = Field(default_factory=dict)
    age: AgeMatch | None = None
    continue_: bool = Field(default=False, alias="continue")
    group_by: list[str] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    routes: list[RouteConfig] = Field(default_factory=list)

    @field_validator("match_re")
    @classmethod
    def _regexes_compile(cls, v: dict[str, str]) -> dict[str, str]:
        for key, pattern in v.items():
            problem = pattern_problem(pattern)
            if problem:
                raise ValueError(f"match_re.{key}: {problem}")
        return v

    def walk(self, path: str = "route") -> list[tuple[str, RouteConfig]]:
        """This route and every route below it, each with its key path."""
        out = [(path, self)]
        for i, child in enumerate(self.routes):
            out.extend(child.walk(f"{path}.routes.{i}"))
        return out


class MatcherConfig(Strict):
    """One label matcher: ``name`` ``op`` ``value`` with op one of = != =~ !~."""

    name: str = Field(min_length=1)
    value: str
    op: Literal["=", "!=", "=~", "!~"] = "="

    @model_validator(mode="after")
    def _regex_compiles(self) -> MatcherConfig:
        if self.op in ("=~", "!~"):
            problem = pattern_problem(self.value)
            if problem:
                raise ValueError(problem)
        return self


class RecurringWindow(Strict):
    """A recurring maintenance window, e.g. weekdays 22:00-06:00 in Europe/Paris."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS))
    start: TimeOfDay
    end: TimeOfDay
    timezone: TimeZone = "UTC"


class SilenceConfig(Strict):
    """A silence defined in the config: fixed (starts/ends) or recurring (every)."""

    matchers: list[MatcherConfig] = Field(min_length=1)
    comment: str = ""
    author: str = "config"
    starts_at: str | None = None
    ends_at: str | None = None
    every: RecurringWindow | None = None


class InhibitConfig(Strict):
    """Inhibition of item alerts by device state."""

    silent_after: Duration = timedelta(days=7)
    device_gone: bool = True
    severity: Literal["info", "warning", "critical"] = "warning"
