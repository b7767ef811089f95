"""Loading rule files into a :class:`RuleSet`.

Order: the shipped packs (``rules/*.yaml``, sorted by name) when ``builtin`` is true,
then each given path in order (a folder contributes its ``*.yaml``/``*.yml`` files,
sorted). Rule ids are unique across everything loaded; to change a shipped rule, add
an ``overrides`` entry in your own file rather than a rule with the same id::

    overrides:
      - id: kandji.device.filevault-off
        enabled: true
        severity: critical
        unless:
          - device.blueprint_name: {matches: "Lab.*"}

Overrides apply after every file is loaded, in load order; ``disabled`` (ids or shell
patterns such as ``kandji.device.*``) applies last. Every error is a
:class:`~monitor.errors.RuleError` naming the file, line and key path.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from monitor.config import never_expand_env, parse_yaml, read_capped, validation_error
from monitor.engine.conditions import LineIndex, Locator
from monitor.engine.rules import Rule, apply_override, compile_rule
from monitor.engine.ruleset import RuleSet
from monitor.engine.spec import DefaultsSpec, OverrideSpec, RuleFileSpec, RuleSpec
from monitor.errors import ConfigError, RuleError

RULES_DIR_ENV = "COMPLIANCE_MONITOR_RULES_DIR"

_DEFAULTABLE = ("source", "severity", "for", "keep_firing_for", "enabled")


def builtin_rules_dir(env: Mapping[str, str] | None = None) -> Path:
    """The folder of the shipped rule packs (``$COMPLIANCE_MONITOR_RULES_DIR`` wins)."""
    environ = os.environ if env is None else env
    override = environ.get(RULES_DIR_ENV)
    if override:
        return Path(override)
    # A source checkout (or editable install): rules/ beside the monitor package.
    beside = Path(__file__).resolve().parents[2] / "rules"
    if beside.is_dir():
        return beside
    # An installed wheel puts the packs under the environment's share/ folder.
    return Path(sys.prefix) / "share" / "compliance-monitor" / "rules"


def rule_files(path: Path) -> list[Path]:
    """The rule files of ``path``: itself, or a folder's ``*.yaml``/``*.yml`` sorted by name."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not path.exists():
        raise RuleError(str(path), "", "file not found")
    return [path]


def load_rules(
    paths: Sequence[Path | str],
    *,
    builtin: bool = True,
    disabled: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> RuleSet:
    """Load, validate and compile rule files into a :class:`RuleSet`.

    ``paths`` are files or folders; ``builtin`` adds the shipped packs first;
    ``disabled`` switches rules off by id or shell pattern (one that matches nothing
    is an error, so a typo cannot leave a rule on). ``env`` is the environment that
    may name the shipped rules folder. Rule files never expand ``${VAR}`` (their text
    reaches messages and the database, so a secret must not): one is a load error.
    """
    files: list[Path] = []
    if builtin:
        folder = builtin_rules_dir(env)
        if not folder.is_dir():
            raise RuleError(
                str(folder), "", f"the shipped rules folder does not exist (set {RULES_DIR_ENV})"
            )
        files.extend(rule_files(folder))
    for path in paths:
        files.extend(rule_files(Path(path)))

    rules: dict[str, Rule] = {}
    origin: dict[str, str] = {}
    overrides: list[tuple[OverrideSpec, Locator, tuple[str | int, ...]]] = []
    for file in files:
        loaded, file_overrides = _load_file(file, env)
        for rule in loaded:
            if rule.id in rules:
                raise RuleError(
                    rule.file,
                    f"rules.{_index_of(loaded, rule)}.id",
                    f"rule id {rule.id!r} is already defined in {origin[rule.id]}"
                    " (to change a rule defined elsewhere, use overrides:)",
                    line=rule.line,
                )
            rules[rule.id] = rule
            origin[rule.id] = rule.file if rule.line is None else f"{rule.file}:{rule.line}"
        overrides.extend(file_overrides)

    for spec, where, key_path in overrides:
        if spec.id not in rules:
            raise where.error((*key_path, "id"), f"no loaded rule has the id {spec.id!r}")
        rules[spec.id] = apply_override(rules[spec.id], spec, where, key_path)

    for i, pattern in enumerate(disabled):
        hits = [rid for rid in rules if fnmatch.fnmatchcase(rid, pattern)]
        if not hits:
            raise RuleError("config", f"rules.disabled.{i}", f"no loaded rule matches {pattern!r}")
        for rid in hits:
            rules[rid] = _disabled(rules[rid])

    return RuleSet(list(rules.values()), [str(f) for f in files])


def _disabled(rule: Rule) -> Rule:
    return dataclasses.replace(rule, enabled=False)


def _index_of(rules: Sequence[Rule], rule: Rule) -> int:
    return next(i for i, r in enumerate(rules) if r is rule)


def load_rules_text(
    text: str, file: str = "<rules>", env: Mapping[str, str] | None = None
) -> RuleSet:
    """Compile the rules of one YAML document (overrides inside it apply to its own rules)."""
    loaded, overrides = _parse(text, file, env)
    rules = {r.id: r for r in loaded}
    for spec, where, path in overrides:
        if spec.id not in rules:
            raise where.error((*path, "id"), f"no loaded rule has the id {spec.id!r}")
        rules[spec.id] = apply_override(rules[spec.id], spec, where, path)
    return RuleSet(list(rules.values()), [file])


def _load_file(
    path: Path, env: Mapping[str, str] | None
) -> tuple[list[Rule], list[tuple[OverrideSpec, Locator, tuple[str | int, ...]]]]:
    file = str(path)
    try:
        text = read_capped(path, file)
    except ConfigError as exc:
        raise _as_rule_error(exc) from None
    return _parse(text, file, env)


def _as_rule_error(exc: ConfigError) -> RuleError:
    if isinstance(exc, RuleError):
        return exc
    return RuleError(exc.file, exc.key_path, exc.reason, line=exc.line)


def _validate(
    model: type[BaseModel], data: Any, file: str, lines: Any, prefix: tuple[str | int, ...]
) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _as_rule_error(validation_error(exc, file, lines, prefix)) from None


def _parse(
    text: str, file: str, env: Mapping[str, str] | None
) -> tuple[list[Rule], list[tuple[OverrideSpec, Locator, tuple[str | int, ...]]]]:
    try:
        data, lines = parse_yaml(text, file, env, expand=never_expand_env)
    except ConfigError as exc:
        raise _as_rule_error(exc) from None
    if data is None:
        return [], []
    if not isinstance(data, dict):
        raise RuleError(file, "", "a rule file is a mapping with a rules: list")
    doc: RuleFileSpec = _validate(RuleFileSpec, data, file, lines, ())
    where = Locator(file, _lines(lines))
    defaults: DefaultsSpec = _validate(DefaultsSpec, doc.defaults, file, lines, ("defaults",))

    rules: list[Rule] = []
    ids: dict[str, int] = {}
    for i, raw in enumerate(doc.rules):
        path: tuple[str | int, ...] = ("rules", i)
        merged = _with_defaults(raw, doc.defaults, defaults)
        spec: RuleSpec = _validate(RuleSpec, merged, file, lines, path)
        if spec.id in ids:
            raise where.error(
                (*path, "id"),
                f"rule id {spec.id!r} is already defined in "
                f"{file}:{where.lines.line(('rules', ids[spec.id]))}",
            )
        ids[spec.id] = i
        rules.append(compile_rule(spec, where, path))

    overrides: list[tuple[OverrideSpec, Locator, tuple[str | int, ...]]] = []
    for i, raw in enumerate(doc.overrides):
        path = ("overrides", i)
        override: OverrideSpec = _validate(OverrideSpec, raw, file, lines, path)
        overrides.append((override, where, path))
    return rules, overrides


def _with_defaults(
    raw: Mapping[str, Any], raw_defaults: Mapping[str, Any], defaults: DefaultsSpec
) -> dict[str, Any]:
    merged = dict(raw)
    for key in _DEFAULTABLE:
        if key in raw_defaults and key not in merged:
            merged[key] = raw_defaults[key]
    if defaults.labels:
        labels = raw.get("labels", {})
        merged["labels"] = {**defaults.labels, **labels} if isinstance(labels, dict) else labels
    return merged


def _lines(lines: Any) -> LineIndex:
    index: LineIndex = lines
    return index
