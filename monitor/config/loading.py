"""Loading a config file: read it (bounded), parse it, validate it against
:class:`~monitor.config.root.Config`, report every problem by file, key path and line,
and make its relative paths relative to the file's folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from monitor.config.parsing import LineIndex, dotted, parse_yaml, read_capped
from monitor.config.root import Config
from monitor.errors import ConfigError, ConfigErrors
from monitor.sources import registry


def validation_errors(
    exc: ValidationError,
    file: str,
    loc: LineIndex,
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
        out.append(ConfigError(file, dotted(_named(path, data)), msg, line=line))
    return out


def validation_error(
    exc: ValidationError, file: str, loc: LineIndex, prefix: Sequence[str | int] = ()
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


@dataclass(frozen=True)
class ConfigReport:
    """What one read of a config file found: the config when valid, every problem, and
    the raw data with its line index (for checks that go beyond the schema)."""

    file: str
    config: Config | None
    problems: list[ConfigError]
    data: Any = None
    loc: LineIndex | None = None

    def line(self, path: Sequence[str | int]) -> int | None:
        """The line of a key path in the file, when known."""
        return None if self.loc is None else self.loc.line(path)

    def key(self, path: Sequence[str | int]) -> str:
        """A key path as errors spell it (sources by name)."""
        return dotted(_named(path, self.data))


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
