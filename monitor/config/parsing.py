"""Reading a config or rule file into plain data: the YAML is composed by the safe loader
and built here node by node, so that every key keeps its line, ``${ENV}`` is expanded
only where it may be (see :func:`config_expands_env`), and the file's size, nesting and
alias expansion are bounded before anything grows past them.

``${NAME}`` in a string is replaced by the environment variable ``NAME``;
``${NAME:-default}`` gives a default; ``$${`` is a literal ``${``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from monitor.errors import ConfigError

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


class LineIndex:
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


class _Builder:
    """Builds plain data from one composed YAML document: keeps each key path's line,
    expands or refuses ``${ENV}``, and bounds alias cycles, nesting depth and size."""

    def __init__(
        self,
        file: str,
        env: Mapping[str, str],
        expand: Callable[[tuple[str | int, ...]], bool],
    ) -> None:
        self.file = file
        self.env = env
        self.expand = expand
        self.loc = LineIndex()
        self.active: set[int] = set()
        self.nodes = 0

    def error(self, path: Sequence[str | int], problem: str, line: int) -> ConfigError:
        return ConfigError(self.file, dotted(path), problem, line=line)

    def build(self, node: yaml.Node, path: tuple[str | int, ...]) -> Any:
        line = node.start_mark.line + 1
        self.loc.lines.setdefault(path, line)
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.error(path, f"the file expands to more than {MAX_NODES} values "
                             "(aliases repeated many times?)", line)
        if len(path) > MAX_DEPTH:
            raise self.error(path[:MAX_DEPTH], f"nested deeper than {MAX_DEPTH} levels", line)
        if node.tag.startswith(_FOREIGN_TAGS):
            # Local tags (!custom) and Python object tags mean nothing here: say so rather
            # than read the value as if the tag were not there.
            raise self.error(path, f"unsupported YAML tag {node.tag!r}", line)
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            if id(node) in self.active:
                raise self.error(path, "an alias refers to itself", line)
            self.active.add(id(node))
            try:
                return self._collection(node, path)
            finally:
                self.active.discard(id(node))
        assert isinstance(node, yaml.ScalarNode)
        return self._scalar(node, path, line)

    def _scalar(self, node: yaml.ScalarNode, path: tuple[str | int, ...], line: int) -> Any:
        # Resolve plain scalars with the safe loader's own rules (ints, bools, nulls...).
        if node.style is None and node.tag != "tag:yaml.org,2002:str":
            try:
                value = yaml.safe_load(yaml.serialize(node))
            except (yaml.YAMLError, ValueError, OverflowError) as exc:
                # ValueError: a scalar that looks like a date but is none (2024-02-30).
                problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
                raise self.error(path, f"bad value: {problem}", line) from None
        else:
            value = node.value
        if isinstance(value, str) and "$" in value:
            key_path = dotted(path)
            if self.expand(path):
                value = substitute_env(value, self.env, file=self.file, key_path=key_path)
            else:
                value = _refuse_env(value, file=self.file, key_path=key_path, line=line)
        return value

    def _collection(
        self, node: yaml.MappingNode | yaml.SequenceNode, path: tuple[str | int, ...]
    ) -> Any:
        if isinstance(node, yaml.SequenceNode):
            return [self.build(v, (*path, i)) for i, v in enumerate(node.value)]
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.error(path, "keys must be plain strings", line)
            key = str(key_node.value)
            if key in out:
                raise self.error((*path, key), "key appears twice", line)
            out[key] = self.build(value_node, (*path, key))
        return out


def dotted(path: Sequence[str | int]) -> str:
    """A key path as errors spell it: ``sources.0.token``."""
    return ".".join(str(p) for p in path)


def parse_yaml(
    text: str,
    file: str,
    env: Mapping[str, str] | None = None,
    *,
    expand: Callable[[tuple[str | int, ...]], bool] = config_expands_env,
) -> tuple[Any, LineIndex]:
    """Parse YAML into plain data, substituting ``${ENV}`` where ``expand(key_path)``
    says so (elsewhere a ``${NAME}`` is an error); keep each key's line number."""
    builder = _Builder(file, os.environ if env is None else env, expand)
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
        return None, builder.loc
    return builder.build(node, ()), builder.loc


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

