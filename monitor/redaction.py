"""Every secret of the config, told to the log redactor before anything can log it."""

from __future__ import annotations

from monitor.config import Config
from monitor.log import register_secret


def register_config_secrets(config: Config) -> None:
    """Tell the log redactor every secret in the config (tokens, receiver URLs, the
    status page's token, heartbeat URLs)."""
    for src in config.sources:
        if src.token is not None:
            register_secret(src.token.get_secret_value())
    for rcv in config.receivers:
        for url in rcv.urls:
            register_secret(url.get_secret_value())
        if rcv.alertmanager is not None:
            register_secret(rcv.alertmanager.url.get_secret_value())
    if config.web.token is not None:
        register_secret(config.web.token.get_secret_value())
    if config.heartbeat is not None:
        register_secret(config.heartbeat.success_url())
        register_secret(config.heartbeat.failure_url())
