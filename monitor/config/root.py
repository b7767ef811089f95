"""The whole configuration file: its sections, and the checks that span them (names are
unique, every receiver a route, digest or escalation names exists and can take what is
sent to it)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, model_validator

from monitor.config.fields import unique_names
from monitor.config.notify import DigestConfig, NotifyConfig
from monitor.config.routing import InhibitConfig, ReceiverConfig, RouteConfig, SilenceConfig
from monitor.config.service import ActionsConfig, HeartbeatConfig, LogConfig, WebConfig
from monitor.config.storage import StoreConfig
from monitor.settings import Duration, Strict
from monitor.sources import registry
from monitor.sources.registry import SourceConfig


class RulesConfig(Strict):
    """Which rule files to load. Relative paths are relative to the config file."""

    files: list[Path] = Field(default_factory=list)
    builtin: bool = True
    disabled: list[str] = Field(default_factory=list)


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
        unique_names("sources", [s.name for s in self.sources])
        receivers = [r.name for r in self.receivers]
        unique_names("receivers", receivers)
        if self.route.receiver is None:
            raise ValueError("route.receiver: the root route needs a receiver")
        for path, route in self.route.walk():
            if route.receiver is not None and route.receiver not in receivers:
                raise ValueError(f"{path}.receiver: no receiver is named {route.receiver!r}")
        _check_owner_references(self)
        _check_digest_references(self)
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
    Config.model_fields["sources"].annotation = list[union]  # type: ignore[valid-type]
    Config.model_rebuild(force=True)


registry.on_change(_sources_changed)


def _takes_messages(config: Config, key: str, target: str, what: str) -> None:
    """ValueError unless the receiver ``target`` (named at ``key``) exists and takes
    ``what`` (messages or digests): neither an owner receiver nor an Alertmanager."""
    if target not in {r.name for r in config.receivers}:
        raise ValueError(f"{key}: no receiver is named {target!r}")
    receiver = config.receiver(target)
    if receiver.owner is not None:
        raise ValueError(f"{key}: {target!r} is an owner receiver")
    if receiver.alertmanager is not None:
        raise ValueError(
            f"{key}: {target!r} posts to an Alertmanager, which takes alerts, not {what}"
        )


def _check_owner_references(config: Config) -> None:
    for index, r in enumerate(config.receivers):
        if r.owner is not None and r.owner.escalate is not None:
            key = f"receivers.{index}.owner.escalate.receiver"
            _takes_messages(config, key, r.owner.escalate.receiver, "messages")
    if any(r.owner is not None and r.name == config.route.receiver for r in config.receivers):
        raise ValueError("route.receiver: the root route cannot speak to device owners")


def _check_digest_references(config: Config) -> None:
    unique_names("digests", [d.name for d in config.digests])
    names = {r.name for r in config.receivers}
    for index, d in enumerate(config.digests):
        named = [("receiver", d.receiver), *(("scope.receivers", n) for n in d.scope.receivers)]
        for key, name in named:
            if name not in names:
                raise ValueError(f"digests.{index}.{key}: no receiver is named {name!r}")
        _takes_messages(config, f"digests.{index}.receiver", d.receiver, "digests")
