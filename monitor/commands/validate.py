"""``validate``: every mistake in a config and its rule files, each on its own line.

Beyond the schema (unknown keys, bad values, references), it checks what would stop the
daemon or silence it later: apprise URLs that do not parse, token files that are missing,
empty or hold a line break, a state folder that cannot be written, rule files and the
rules' actions. Each line names the file, the line, the key path (sources by name) and
the reason; secrets are never quoted. Exit 0 when valid, 2 otherwise.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from monitor.config import Config, ConfigReport, read_config
from monitor.errors import ConfigError, TokenFileError
from monitor.log import redact

UrlCheck = Callable[[str], "str | None"]


def collect_problems(
    path: Path, check_url: UrlCheck | None = None
) -> tuple[ConfigReport, list[ConfigError]]:
    """The config report and every problem found in it and around it."""
    report = read_config(path)
    problems = list(report.problems)
    if isinstance(report.data, dict):
        problems.extend(_url_problems(report, check_url or _apprise_check))
        problems.extend(_token_file_problems(report, path.parent))
        problems.extend(_state_problems(report, path.parent))
    if report.config is not None:
        problems.extend(_rule_problems(report))
    return report, _in_file_order(problems)


def run(path: Path, out: TextIO, err: TextIO) -> int:
    """Print every problem (exit 2) or a one-line summary (exit 0)."""
    report, problems = collect_problems(path)
    if problems:
        for problem in problems:
            print(f"invalid: {redact(str(problem))}", file=err)
        print(f"{len(problems)} problem(s) in {path}", file=err)
        return 2
    config = report.config
    assert config is not None
    from monitor.engine import load_rules

    rules = load_rules(
        config.rules.files, builtin=config.rules.builtin, disabled=config.rules.disabled
    )
    print(
        f"valid: {path}: {len(config.sources)} source(s), {len(rules.rules)} rule(s), "
        f"{len(config.receivers)} receiver(s)",
        file=out,
    )
    return 0


def _apprise_check(url: str) -> str | None:
    from monitor.notify.sender import AppriseSender

    return AppriseSender().check_url(url)


def _entries(report: ConfigReport, key: str) -> list[tuple[int, dict[str, Any]]]:
    data = report.data
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    return [(i, item) for i, item in enumerate(items) if isinstance(item, dict)]


def _url_problems(report: ConfigReport, check_url: UrlCheck) -> list[ConfigError]:
    out = []
    for i, receiver in _entries(report, "receivers"):
        urls = receiver.get("urls")
        if not isinstance(urls, list):
            continue
        for j, url in enumerate(urls):
            if not isinstance(url, str) or not url.strip():
                continue  # the schema reports it
            reason = check_url(url)
            if reason:
                path = ("receivers", i, "urls", j)
                name = receiver.get("name")
                key = f"receivers.{name}.urls.{j}" if isinstance(name, str) else report.key(path)
                out.append(ConfigError(report.file, key, reason, line=report.line(path)))
    return out


def _token_file_problems(report: ConfigReport, base: Path) -> list[ConfigError]:
    from monitor.settings import SourceBase

    out = []
    for i, source in _entries(report, "sources"):
        token_file = source.get("token_file")
        if not isinstance(token_file, str) or not token_file:
            continue
        file = Path(token_file)
        file = file if file.is_absolute() else base / file
        raw_name = source.get("name")
        name = raw_name if isinstance(raw_name, str) else str(i)
        probe = SourceBase.model_construct(
            kind="", name=name, url="", token_file=file, token=None
        )
        try:
            probe.resolve_token()
        except TokenFileError as exc:
            path = ("sources", i, "token_file")
            out.append(
                ConfigError(report.file, report.key(path), f"{file}: {exc.reason}",
                            line=report.line(path))
            )
    return out


def _state_problems(report: ConfigReport, base: Path) -> list[ConfigError]:
    store = report.data.get("store") if isinstance(report.data, dict) else None
    raw = store.get("path") if isinstance(store, dict) else None
    db = Path(raw) if isinstance(raw, str) and raw else Path("state/monitor.db")
    db = db if db.is_absolute() else base / db
    reason = state_folder_problem(db)
    if reason is None:
        return []
    return [ConfigError(report.file, "store.path", reason, line=report.line(("store", "path")))]


def state_folder_problem(db: Path) -> str | None:
    """Why the store's file could not be created or written in its folder, or None."""
    folder = db.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder"
    if existing != folder:
        if not os.access(existing, os.W_OK | os.X_OK):
            return f"{folder} does not exist and {existing} is not writable"
        return None
    if db.exists() and not os.access(db, os.R_OK | os.W_OK):
        return f"{db} is not writable"
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return f"{folder} is not writable ({exc.strerror or exc.__class__.__name__})"
    return None


def _rule_problems(report: ConfigReport) -> list[ConfigError]:
    from monitor.actions import check_actions
    from monitor.engine import load_rules

    config = report.config
    assert config is not None
    try:
        rules = load_rules(
            config.rules.files, builtin=config.rules.builtin, disabled=config.rules.disabled
        )
    except ConfigError as exc:
        return [exc]
    file = str(rules.files[0]) if rules.files else "rules"
    out = [ConfigError(file, "actions", p) for p in check_actions(config.actions, rules.rules)]
    for problem in config_silence_problems(config, rules.rules):
        path = tuple(int(p) if p.isdigit() else p for p in problem.key_path.split("."))
        out.append(
            ConfigError(report.file, problem.key_path, problem.reason, line=report.line(path))
        )
    return out


def _in_file_order(problems: list[ConfigError]) -> list[ConfigError]:
    seen: set[str] = set()
    unique = []
    for p in problems:
        if p.message not in seen:
            seen.add(p.message)
            unique.append(p)
    return sorted(unique, key=lambda p: (p.file, p.line is None, p.line or 0))


def config_silence_problems(config: Config, rules: Sequence[object]) -> list[ConfigError]:
    """Matchers of the config's silences naming a label no alert has, or no severity."""
    from monitor.models import STANDARD_LABELS
    from monitor.notify.silences import matcher_problem

    known = set(STANDARD_LABELS)
    for rule in rules:
        known.update(getattr(rule, "labels", {}))
    out = []
    for i, silence in enumerate(config.silences):
        for j, m in enumerate(silence.matchers):
            problem = matcher_problem(m.name, m.op, m.value, known)
            if problem:
                out.append(ConfigError("config", f"silences.{i}.matchers.{j}", problem))
    return out
