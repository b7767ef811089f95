"""The monitor's own services: the status page and its API, remediation actions and their
caps, the dead-man's switch (heartbeat), and logging."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from monitor.config.fields import HttpSecret, up_to
from monitor.settings import Duration, Strict, token_problem

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

    url: HttpSecret
    fail_url: HttpSecret | None = None
    timeout: Annotated[Duration, up_to(timedelta(minutes=1), "60s")] = timedelta(seconds=10)

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
