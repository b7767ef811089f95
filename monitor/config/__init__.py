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

The parts:

- :mod:`.parsing`: YAML to plain data with line numbers, ``${ENV}``, size and depth bounds;
- :mod:`.loading`: read, validate and report a config file; relative paths resolved;
- :mod:`.fields`: field types the sections share (times, zones, URLs, names);
- :mod:`.routing`: receivers, the route tree, silences, inhibition;
- :mod:`.notify`: owner notices, digests, the outbox;
- :mod:`.storage`: where state is kept;
- :mod:`.service`: status page, actions, heartbeat, logging;
- :mod:`.root`: the whole file (:class:`Config`) and its cross-section checks.

Source configs are defined by each source package on :mod:`monitor.settings`;
:class:`Config` takes the union of the registered ones.
"""

from __future__ import annotations

from monitor.config.fields import WEEKDAYS, Weekday
from monitor.config.loading import (
    ConfigReport,
    load_config,
    read_config,
    resolve_paths,
    validation_error,
    validation_errors,
)
from monitor.config.notify import (
    DigestConfig,
    DigestScheduleConfig,
    DigestScopeConfig,
    EscalationConfig,
    NotifyConfig,
    OutboxConfig,
    OwnerPolicy,
    SendWindowConfig,
)
from monitor.config.parsing import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
    config_expands_env,
    never_expand_env,
    parse_yaml,
    read_capped,
    substitute_env,
)
from monitor.config.root import Config, RulesConfig
from monitor.config.routing import (
    AgeMatch,
    AlertmanagerTarget,
    InhibitConfig,
    MatcherConfig,
    ReceiverConfig,
    RecurringWindow,
    RouteConfig,
    SilenceConfig,
)
from monitor.config.service import (
    LOOPBACK_HOSTS,
    MIN_WEB_TOKEN,
    ActionLimits,
    ActionsConfig,
    HeartbeatConfig,
    LogConfig,
    WebConfig,
)
from monitor.config.storage import StoreConfig
from monitor.settings import (
    BudgetConfig,
    Duration,
    RetryConfig,
    SourceBase,
    Strict,
    parse_duration,
    token_problem,
)
from monitor.sources.registry import SourceConfig

__all__ = [
    "LOOPBACK_HOSTS",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "MIN_WEB_TOKEN",
    "WEEKDAYS",
    "ActionLimits",
    "ActionsConfig",
    "AgeMatch",
    "AlertmanagerTarget",
    "BudgetConfig",
    "Config",
    "ConfigReport",
    "DigestConfig",
    "DigestScheduleConfig",
    "DigestScopeConfig",
    "Duration",
    "EscalationConfig",
    "HeartbeatConfig",
    "InhibitConfig",
    "LogConfig",
    "MatcherConfig",
    "NotifyConfig",
    "OutboxConfig",
    "OwnerPolicy",
    "ReceiverConfig",
    "RecurringWindow",
    "RetryConfig",
    "RouteConfig",
    "RulesConfig",
    "SendWindowConfig",
    "SilenceConfig",
    "SourceBase",
    "SourceConfig",
    "StoreConfig",
    "Strict",
    "WebConfig",
    "Weekday",
    "config_expands_env",
    "load_config",
    "never_expand_env",
    "parse_duration",
    "parse_yaml",
    "read_capped",
    "read_config",
    "resolve_paths",
    "substitute_env",
    "token_problem",
    "validation_error",
    "validation_errors",
]
