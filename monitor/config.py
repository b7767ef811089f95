"""Configuration: strict pydantic models, YAML loading, ``${ENV}`` secrets.

Every error is a :class:`~monitor.errors.ConfigError` naming the file, the dotted key
path, the line when known, and what is wrong; unknown keys are errors. Secrets (tokens,
apprise URLs, which embed credentials) are :class:`pydantic.SecretStr` and never appear
in reprs, logs or error messages: an error about a secret names its key, not its value.

``${NAME}`` in a string is replaced by the environment variable ``NAME``;
``${NAME:-default}`` gives a default; ``$${`` is a literal ``${``. It is not expanded
where the text reaches messages, the status page or the database (receivers'
``title_template``/``body_template``, silences, and every rule file): a ``${NAME}`` there
is an error, so a secret cannot be mailed out by a template. A token may also be read
from a file (``token_file``), the usual way with Docker and systemd credentials.

Files larger than :data:`MAX_FILE_BYTES` are refused before they are parsed. Loading
reports every problem it finds (:class:`~monitor.errors.ConfigErrors`), sources named by
their ``name`` in key paths (``sources.acme.token``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.errors import ConfigError, ConfigErrors
from monitor.patterns import pattern_problem
from monitor.settings import BudgetConfig as BudgetConfig
from monitor.settings import Duration as Duration
from monitor.settings import RetryConfig as RetryConfig
from monitor.settings import SourceBase as SourceBase
from monitor.settings import Strict as Strict
from monitor.settings import parse_duration as parse_duration
from monitor.settings import token_problem as token_problem
from monitor.sources import registry
from monitor.sources.registry import SourceConfig as SourceConfig

# --------------------------------------------------------------------------- notify


class AlertmanagerTarget(Strict):
    """A Prometheus Alertmanager the receiver posts its alerts to (``/api/v2/alerts``).

    ``url`` is the Alertmanager's base URL (``http://alertmanager:9093``; it may carry
    credentials, so it is a secret). ``labels`` are added to every alert (e.g.
    ``{team: endpoint}``). A firing alert is posted with an ``endsAt`` of
    ``resolve_after`` from now; the route's repeat messages post it again before that,
    so it only expires on its own when the monitor stops talking.
    """

    url: SecretStr
    timeout: Duration = timedelta(seconds=10)
    labels: dict[str, str] = Field(default_factory=dict)
    resolve_after: Duration = timedelta(hours=12)

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v

    @field_validator("labels")
    @classmethod
    def _label_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", name):
                raise ValueError(f"{name!r} is not a Prometheus label name")
        return v

    @field_validator("timeout")
    @classmethod
    def _timeout_bounded(cls, v: timedelta) -> timedelta:
        if not timedelta(0) < v <= timedelta(minutes=2):
            raise ValueError("must be more than 0s and at most 2m")
        return v


class ReceiverConfig(Strict):
    """A named receiver: a list of apprise URLs, and/or the console, or an Alertmanager.

    ``urls`` are apprise URLs (``slack://``, ``mailto://``, ``json://``, ``msteams://``,
    ``pagerduty://``...). They often embed credentials, so they are secrets.
    ``alertmanager`` posts the alerts themselves (labels, annotations, start and end)
    to a Prometheus Alertmanager instead of a rendered message; it stands alone.
    """

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
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


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class RecurringWindow(Strict):
    """A recurring maintenance window, e.g. weekdays 22:00-06:00 in Europe/Paris."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS))
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _tz_exists(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v


class SilenceConfig(Strict):
    """A silence defined in the config: fixed (starts/ends) or recurring (every)."""

    matchers: list[MatcherConfig] = Field(min_length=1)
    comment: str = ""
    author: str = "config"
    starts_at: str | None = None
    ends_at: str | None = None
    every: RecurringWindow | None = None


class SendWindowConfig(Strict):
    """Days and hours in a time zone when owner notices may go out."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]))
    start: str = Field(default="09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(default="17:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _tz_exists(cls, v: str) -> str:
        return RecurringWindow._tz_exists(v)


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
    at: str = Field(default="09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _tz_exists(cls, v: str) -> str:
        return RecurringWindow._tz_exists(v)


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

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    receiver: str = Field(min_length=1)
    schedule: DigestScheduleConfig = DigestScheduleConfig()
    period: Duration = timedelta(days=7)
    trend_days: int = Field(default=30, ge=2, le=366)
    scope: DigestScopeConfig = DigestScopeConfig()
    oldest: int = Field(default=10, ge=0, le=100)
    # Where the trend chart can be seen, for receivers that take no attachment.
    chart_link: str | None = None


ReceiverConfig.model_rebuild()


class InhibitConfig(Strict):
    """Inhibition of item alerts by device state."""

    silent_after: Duration = timedelta(days=7)
    device_gone: bool = True
    severity: Literal["info", "warning", "critical"] = "warning"


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


# --------------------------------------------------------------------------- rest


class RulesConfig(Strict):
    """Which rule files to load. Relative paths are relative to the config file."""

    files: list[Path] = Field(default_factory=list)
    builtin: bool = True
    disabled: list[str] = Field(default_factory=list)


_STORE_SCHEMES = ("sqlite", "postgresql", "postgres")


class StoreConfig(Strict):
    """Where state is kept: a URL, ``sqlite:///state/monitor.db`` (the default, a file
    relative to the config file; ``sqlite:////abs/path.db`` for an absolute one) or
    ``postgresql://user@host:5432/dbname`` for several instances sharing one database.

    ``store: URL`` is short for ``store: {url: URL}``; the older ``store: {path: FILE}``
    still means an SQLite file. The PostgreSQL password goes in ``password`` (from
    ``${ENV}``) or ``password_file``, or inside the URL; it is redacted everywhere.
    After loading, ``path`` is the SQLite file (None on PostgreSQL).

    ``lease_ttl``: how long an instance's claim on a source lasts without renewal; a
    dead instance's sources are taken over after at most this long. ``instance``: this
    process's name in leases and claims (default: host name and process id); names
    must differ between live instances, and an instance restarted under its old name
    takes its leases back at once.
    """

    url: SecretStr | None = None
    path: Path | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    lease_ttl: Duration = timedelta(seconds=30)
    instance: str | None = Field(default=None, min_length=1, max_length=128)

    @model_validator(mode="before")
    @classmethod
    def _url_shorthand(cls, data: Any) -> Any:
        return {"url": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one_location(self) -> StoreConfig:
        if self.url is not None and self.path is not None:
            raise ValueError("give url or path, not both")
        if self.url is not None:
            scheme = self.url.get_secret_value().partition("://")[0].split("+")[0].lower()
            if scheme not in _STORE_SCHEMES:
                raise ValueError("the url must start with sqlite://, postgresql:// or postgres://")
        if self.password is not None and self.password_file is not None:
            raise ValueError("give password or password_file, not both")
        if self.lease_ttl < timedelta(seconds=2):
            raise ValueError("lease_ttl must be at least 2s")
        return self

    @property
    def is_sqlite(self) -> bool:
        """Whether the store is an SQLite file (the embedded default)."""
        if self.url is None:
            return True
        return self.url.get_secret_value().lower().startswith("sqlite")

    def sqlite_file(self) -> Path | None:
        """The SQLite file this config names (None for PostgreSQL or ``:memory:``)."""
        if self.url is None:
            return self.path if self.path is not None else Path("state/monitor.db")
        if not self.is_sqlite:
            return None
        rest = self.url.get_secret_value().partition("://")[2]
        file = rest[1:] if rest.startswith("/") else rest
        return None if file in ("", ":memory:") else Path(file)

    def resolve_password(self) -> SecretStr | None:
        """The password given beside the URL, read from ``password_file`` if need be."""
        if self.password is not None or self.password_file is None:
            return self.password
        try:
            return SecretStr(self.password_file.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConfigError(
                str(self.password_file), "store.password_file", exc.strerror or "unreadable"
            ) from None


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MIN_WEB_TOKEN = 16
"""The shortest ``web.token`` accepted: a guessable token is no token."""


class WebConfig(Strict):
    """The status page, JSON API, /metrics and health endpoints.

    ``token``: required beyond loopback; when given it must be at least
    :data:`MIN_WEB_TOKEN` characters (an empty one, from an unset variable, is an error,
    never "no authentication"). ``allowed_hosts``: the names the page may be reached by
    (the ``Host`` header, port aside); a request naming another host is refused, which
    defeats DNS rebinding. Empty means: the loopback names when listening on loopback,
    any name otherwise (the token guards it).
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    token: SecretStr | None = None
    allowed_hosts: list[str] = Field(default_factory=list)

    @field_validator("token")
    @classmethod
    def _token_is_long(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return v
        problem = token_problem(v.get_secret_value())
        if problem:
            raise ValueError(problem)
        if len(v.get_secret_value()) < MIN_WEB_TOKEN:
            raise ValueError(f"is shorter than {MIN_WEB_TOKEN} characters")
        return v

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts_are_names(cls, v: list[str]) -> list[str]:
        for i, host in enumerate(v):
            if not host or any(ch.isspace() or ch in "/@" for ch in host):
                raise ValueError(f"allowed_hosts.{i}: not a host name")
        return [h.lower() for h in v]

    @model_validator(mode="after")
    def _token_when_exposed(self) -> WebConfig:
        if self.enabled and self.host not in LOOPBACK_HOSTS and self.token is None:
            raise ValueError("a token is required when the status page listens beyond loopback")
        return self


class ActionLimits(Strict):
    """Caps on one action."""

    per_sweep: int = Field(default=10, ge=0)
    per_hour: int = Field(default=50, ge=0)
    cooldown: Duration = timedelta(hours=24)


class ActionsConfig(Strict):
    """Remediation actions: off unless enabled here and on the rule."""

    enabled: bool = False
    dry_run: bool = False
    limits: ActionLimits = ActionLimits()
    per_action: dict[str, ActionLimits] = Field(default_factory=dict)


class HeartbeatConfig(Strict):
    """A dead-man's switch (healthchecks.io style): after each healthy sweep the monitor
    pings ``url``; after a failed one it pings ``fail_url`` (``url`` + ``/fail`` unless
    given). The service alerts when the pings stop, so the monitor's own death is
    noticed elsewhere. The URLs embed the check's identity, so they are secrets."""

    url: SecretStr
    fail_url: SecretStr | None = None
    timeout: Duration = timedelta(seconds=10)

    @field_validator("url", "fail_url")
    @classmethod
    def _url_is_http(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v

    @field_validator("timeout")
    @classmethod
    def _timeout_bounded(cls, v: timedelta) -> timedelta:
        if not timedelta(0) < v <= timedelta(minutes=1):
            raise ValueError("must be more than 0s and at most 60s")
        return v

    def success_url(self) -> str:
        """Where a healthy sweep is reported."""
        return self.url.get_secret_value()

    def failure_url(self) -> str:
        """Where a failed sweep is reported."""
        if self.fail_url is not None:
            return self.fail_url.get_secret_value()
        return self.url.get_secret_value().rstrip("/") + "/fail"


class LogConfig(Strict):
    """Logging: ``auto`` is console on a TTY, JSON otherwise."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "console", "json"] = "auto"


class Config(Strict):
    """The whole configuration file."""

    sources: list[SourceConfig] = Field(min_length=1)
    rules: RulesConfig = RulesConfig()
    receivers: list[ReceiverConfig] = Field(min_length=1)
    route: RouteConfig
    silences: list[SilenceConfig] = Field(default_factory=list)
    inhibit: InhibitConfig = InhibitConfig()
    notify: NotifyConfig = NotifyConfig()
    store: StoreConfig = StoreConfig()
    web: WebConfig = WebConfig()
    actions: ActionsConfig = ActionsConfig()
    log: LogConfig = LogConfig()
    heartbeat: HeartbeatConfig | None = None
    digests: list[DigestConfig] = Field(default_factory=list)
    shutdown_grace: Duration = timedelta(seconds=20)

    @model_validator(mode="after")
    def _references_resolve(self) -> Config:
        names = [s.name for s in self.sources]
        dup = _first_duplicate(names)
        if dup:
            raise ValueError(f"two sources are named {dup!r}; names must be unique")
        receivers = [r.name for r in self.receivers]
        dup = _first_duplicate(receivers)
        if dup:
            raise ValueError(f"two receivers are named {dup!r}; names must be unique")
        if self.route.receiver is None:
            raise ValueError("route.receiver: the root route needs a receiver")
        for path, route in _walk_routes(self.route, "route"):
            if route.receiver is not None and route.receiver not in receivers:
                raise ValueError(f"{path}.receiver: no receiver is named {route.receiver!r}")
        _check_owner_and_digest_references(self)
        return self

    def source(self, name: str) -> SourceConfig:
        """The source named ``name``."""
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(name)

    def receiver(self, name: str) -> ReceiverConfig:
        """The receiver named ``name``."""
        for r in self.receivers:
            if r.name == name:
                return r
        raise KeyError(name)


def _sources_changed() -> None:
    """A source kind was registered or removed: rebuild the union of source configs."""
    union = registry.config_union()
    globals()["SourceConfig"] = union
    Config.model_fields["sources"].annotation = list[union]  # type: ignore[valid-type]
    Config.model_rebuild(force=True)


registry.on_change(_sources_changed)


def _check_owner_and_digest_references(config: Config) -> None:
    owners = {r.name for r in config.receivers if r.owner is not None}
    for index, r in enumerate(config.receivers):
        if r.owner is None or r.owner.escalate is None:
            continue
        target = r.owner.escalate.receiver
        if target not in {x.name for x in config.receivers}:
            raise ValueError(
                f"receivers.{index}.owner.escalate.receiver: no receiver is named {target!r}"
            )
        if target in owners:
            raise ValueError(
                f"receivers.{index}.owner.escalate.receiver: {target!r} is an owner receiver"
            )
        if config.receiver(target).alertmanager is not None:
            raise ValueError(
                f"receivers.{index}.owner.escalate.receiver: {target!r} posts to an "
                "Alertmanager, which takes alerts, not messages"
            )
    if config.route.receiver in owners:
        raise ValueError("route.receiver: the root route cannot speak to device owners")
    dup = _first_duplicate([d.name for d in config.digests])
    if dup:
        raise ValueError(f"two digests are named {dup!r}; names must be unique")
    for index, d in enumerate(config.digests):
        for key, name in (("receiver", d.receiver), *(("scope.receivers", n)
                                                      for n in d.scope.receivers)):
            if name not in {x.name for x in config.receivers}:
                raise ValueError(f"digests.{index}.{key}: no receiver is named {name!r}")
        if d.receiver in owners:
            raise ValueError(f"digests.{index}.receiver: {d.receiver!r} is an owner receiver")
        if config.receiver(d.receiver).alertmanager is not None:
            raise ValueError(f"digests.{index}.receiver: {d.receiver!r} posts to an "
                             "Alertmanager, which takes alerts, not digests")


def _first_duplicate(items: Sequence[str]) -> str | None:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            return item
        seen.add(item)
    return None


def _walk_routes(route: RouteConfig, path: str) -> list[tuple[str, RouteConfig]]:
    out = [(path, route)]
    for i, child in enumerate(route.routes):
        out.extend(_walk_routes(child, f"{path}.routes.{i}"))
    return out


# --------------------------------------------------------------------------- loading


_ENV_RE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


def substitute_env(text: str, env: Mapping[str, str], *, file: str, key_path: str) -> str:
    """Replace ``${NAME}`` / ``${NAME:-default}`` in ``text``; ``$${`` is a literal ``${``."""

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$${":
            return "${"
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(file, key_path, f"environment variable {name} is not set")

    return _ENV_RE.sub(repl, text)


class _Loc:
    """Line numbers of the YAML nodes, by key path."""

    def __init__(self) -> None:
        self.lines: dict[tuple[str | int, ...], int] = {}

    def line(self, path: Sequence[str | int]) -> int | None:
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return None


MAX_DEPTH = 64
"""How deeply a config or rule file may nest (far beyond any real one)."""
MAX_NODES = 200_000
"""How many values a file may expand to, aliases included (a guard against alias bombs)."""

_FOREIGN_TAGS = ("!", "tag:yaml.org,2002:python/")


class _Guard:
    """Limits one construction: alias cycles, nesting depth and total size; and says
    where ``${ENV}`` is expanded."""

    def __init__(self, expand: Callable[[tuple[str | int, ...]], bool]) -> None:
        self.active: set[int] = set()
        self.nodes = 0
        self.expand = expand


def _refuse_env(text: str, *, file: str, key_path: str, line: int | None) -> str:
    """``text`` where ``${NAME}`` is not expanded: an error if it has one; ``$${`` -> ``${``."""

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$${":
            return "${"
        raise ConfigError(
            file,
            key_path,
            f"${{{m.group(1)}}}: environment variables are not expanded here, since this "
            "text reaches messages, the status page or the database",
            line=line,
        )

    return _ENV_RE.sub(repl, text)


_NO_ENV_KEYS = frozenset({"title_template", "body_template"})


def config_expands_env(path: tuple[str | int, ...]) -> bool:
    """Where a config file expands ``${ENV}``: everywhere but templates and silences."""
    if path and path[0] == "silences":
        return False
    return not any(part in _NO_ENV_KEYS for part in path)


def never_expand_env(path: tuple[str | int, ...]) -> bool:
    """Rule files never expand ``${ENV}``: their text is what messages are made of."""
    return False


def _construct(
    node: yaml.Node,
    path: tuple[str | int, ...],
    loc: _Loc,
    env: Mapping[str, str],
    file: str,
    guard: _Guard,
) -> Any:
    line = node.start_mark.line + 1
    loc.lines.setdefault(path, line)
    guard.nodes += 1
    if guard.nodes > MAX_NODES:
        raise ConfigError(
            file, _dotted(path), f"the file expands to more than {MAX_NODES} values "
            "(aliases repeated many times?)", line=line,
        )
    if len(path) > MAX_DEPTH:
        raise ConfigError(
            file, _dotted(path[:MAX_DEPTH]), f"nested deeper than {MAX_DEPTH} levels", line=line
        )
    if node.tag.startswith(_FOREIGN_TAGS):
        # Local tags (!custom) and Python object tags mean nothing here: say so rather
        # than read the value as if the tag were not there.
        raise ConfigError(file, _dotted(path), f"unsupported YAML tag {node.tag!r}", line=line)
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        if id(node) in guard.active:
            raise ConfigError(file, _dotted(path), "an alias refers to itself", line=line)
        guard.active.add(id(node))
        try:
            return _construct_collection(node, path, loc, env, file, guard)
        finally:
            guard.active.discard(id(node))
    assert isinstance(node, yaml.ScalarNode)
    # Resolve plain scalars with the safe loader's own rules (ints, bools, nulls...).
    if node.style is None and node.tag != "tag:yaml.org,2002:str":
        try:
            value = yaml.safe_load(yaml.serialize(node))
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            # ValueError: a scalar that looks like a date but is none (2024-02-30).
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(file, _dotted(path), f"bad value: {problem}", line=line) from None
    else:
        value = node.value
    if isinstance(value, str) and "$" in value:
        if guard.expand(path):
            value = substitute_env(value, env, file=file, key_path=_dotted(path))
        else:
            value = _refuse_env(value, file=file, key_path=_dotted(path), line=line)
    return value


def _construct_collection(
    node: yaml.MappingNode | yaml.SequenceNode,
    path: tuple[str | int, ...],
    loc: _Loc,
    env: Mapping[str, str],
    file: str,
    guard: _Guard,
) -> Any:
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(v, (*path, i), loc, env, file, guard) for i, v in enumerate(node.value)
        ]
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise ConfigError(
                file,
                _dotted(path),
                "keys must be plain strings",
                line=key_node.start_mark.line + 1,
            )
        key = str(key_node.value)
        if key in out:
            raise ConfigError(
                file,
                _dotted((*path, key)),
                "key appears twice",
                line=key_node.start_mark.line + 1,
            )
        out[key] = _construct(value_node, (*path, key), loc, env, file, guard)
    return out


def _dotted(path: Sequence[str | int]) -> str:
    return ".".join(str(p) for p in path)


def parse_yaml(
    text: str,
    file: str,
    env: Mapping[str, str] | None = None,
    *,
    expand: Callable[[tuple[str | int, ...]], bool] = config_expands_env,
) -> tuple[Any, _Loc]:
    """Parse YAML into plain data, substituting ``${ENV}`` where ``expand(key_path)``
    says so (elsewhere a ``${NAME}`` is an error); keep each key's line number."""
    loc = _Loc()
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(file, "", f"not valid YAML: {problem}", line=line) from None
    except RecursionError:
        # PyYAML's composer recurses once per nesting level.
        raise ConfigError(file, "", f"nested deeper than {MAX_DEPTH} levels") from None
    if node is None:
        return None, loc
    data = _construct(node, (), loc, os.environ if env is None else env, file, _Guard(expand))
    return data, loc


def validation_errors(
    exc: ValidationError,
    file: str,
    loc: _Loc,
    prefix: Sequence[str | int] = (),
    data: Any = None,
) -> list[ConfigError]:
    """Every pydantic error as a ConfigError naming file, key path and line.

    With the raw ``data`` of a config, a source is named by its ``name`` in the key path
    (``sources.acme.token``) rather than by its index.
    """
    out: list[ConfigError] = []
    for err in exc.errors(include_url=False, include_input=False):
        path: list[str | int] = list(prefix)
        for part in err["loc"]:
            # Discriminated unions add the tag ("kandji") to the location; drop it.
            tag = isinstance(part, str) and part in registry.kinds()
            if tag and path and isinstance(path[-1], int):
                continue
            if isinstance(part, str) and part.startswith("function-after"):
                continue
            path.append(part)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        elif err["type"] == "union_tag_invalid":
            msg = f"kind must be one of: {', '.join(registry.kinds())}"
            path.append("kind")
        elif err["type"] == "union_tag_not_found":
            msg = f"kind is required ({' or '.join(registry.kinds())})"
            path.append("kind")
        line = loc.line(path)
        out.append(ConfigError(file, _dotted(_named(path, data)), msg, line=line))
    return out


def validation_error(
    exc: ValidationError, file: str, loc: _Loc, prefix: Sequence[str | int] = ()
) -> ConfigError:
    """The first pydantic error as a ConfigError naming file, key path and line."""
    return validation_errors(exc, file, loc, prefix)[0]


def _named(path: Sequence[str | int], data: Any) -> list[str | int]:
    """``sources.0.token`` as ``sources.acme.token`` when source 0 has a usable name."""
    out = list(path)
    if len(out) >= 2 and out[0] == "sources" and isinstance(out[1], int) and isinstance(
        data, dict
    ):
        sources = data.get("sources")
        if isinstance(sources, list) and 0 <= out[1] < len(sources):
            entry = sources[out[1]]
            name = entry.get("name") if isinstance(entry, dict) else None
            if isinstance(name, str) and _SOURCE_NAME_RE.match(name):
                out[1] = name
    return out


_SOURCE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")

MAX_FILE_BYTES = 1_048_576
"""A config or rule file larger than this (1 MiB) is refused before it is parsed."""


def read_capped(path: Path, file: str) -> str:
    """The text of a config or rule file, refused past :data:`MAX_FILE_BYTES`."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(file, "", "file not found") from None
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ConfigError(file, "", f"cannot read: {reason}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(
            file, "", f"larger than {MAX_FILE_BYTES // 1024} KiB; refused before parsing"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(file, "", "cannot read: not UTF-8 text") from None


@dataclass(frozen=True)
class ConfigReport:
    """What one read of a config file found: the config when valid, every problem, and
    the raw data with its line index (for checks that go beyond the schema)."""

    file: str
    config: Config | None
    problems: list[ConfigError]
    data: Any = None
    loc: _Loc | None = None

    def line(self, path: Sequence[str | int]) -> int | None:
        """The line of a key path in the file, when known."""
        return None if self.loc is None else self.loc.line(path)

    def key(self, path: Sequence[str | int]) -> str:
        """A key path as errors spell it (sources by name)."""
        return _dotted(_named(path, self.data))


def read_config(
    path: str | Path,
    env: Mapping[str, str] | None = None,
    *,
    secrets: bool = True,
) -> ConfigReport:
    """Read, substitute and validate a config file; never raises ConfigError."""
    p = Path(path)
    file = str(p)
    try:
        text = read_capped(p, file)
        base_env: Mapping[str, str] = os.environ if env is None else env
        data, loc = parse_yaml(text, file, base_env if secrets else _Placeholders(base_env))
    except ConfigError as exc:
        return ConfigReport(file, None, [exc])
    if not isinstance(data, dict):
        problem = ConfigError(
            file, "", "the config must be a mapping with sources, receivers and route"
        )
        return ConfigReport(file, None, [problem], data, loc)
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        return ConfigReport(file, None, validation_errors(exc, file, loc, (), data), data, loc)
    return ConfigReport(file, resolve_paths(cfg, p.parent), [], data, loc)


def load_config(
    path: str | Path,
    env: Mapping[str, str] | None = None,
    *,
    secrets: bool = True,
) -> Config:
    """Read, substitute and validate a config file, or raise ConfigError.

    Every problem found is reported at once (:class:`~monitor.errors.ConfigErrors`).
    ``secrets=False`` is for commands that only read or write local state: an unset
    variable then reads as a placeholder rather than an error, so they need no MDM token.
    """
    report = read_config(path, env, secrets=secrets)
    if report.config is None:
        problems = report.problems
        raise problems[0] if len(problems) == 1 else ConfigErrors(problems)
    return report.config


class _Placeholders(Mapping[str, str]):
    """An environment in which every unset variable reads as a placeholder token."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def __getitem__(self, key: str) -> str:
        return self._env.get(key, f"unset-{key}-placeholder")

    def __contains__(self, key: object) -> bool:
        return True

    def __iter__(self) -> Any:
        return iter(self._env)

    def __len__(self) -> int:
        return len(self._env)


def resolve_paths(cfg: Config, base: Path) -> Config:
    """Make the relative paths of ``cfg`` relative to ``base`` (the config's folder)."""
    files = [f if f.is_absolute() else base / f for f in cfg.rules.files]
    store = cfg.store
    file = store.sqlite_file()
    if file is not None:
        file = file if file.is_absolute() else base / file
        store = store.model_copy(update={"path": file, "url": SecretStr(f"sqlite:///{file}")})
    if store.password_file is not None and not store.password_file.is_absolute():
        store = store.model_copy(update={"password_file": base / store.password_file})
    sources = [
        s.model_copy(update={"token_file": base / s.token_file})
        if s.token_file is not None and not s.token_file.is_absolute()
        else s
        for s in cfg.sources
    ]
    return cfg.model_copy(
        update={
            "sources": sources,
            "rules": cfg.rules.model_copy(update={"files": files}),
            "store": store,
        }
    )
