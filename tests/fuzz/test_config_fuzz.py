"""Fuzzed config and rule files: a valid result or an error naming the file and the key,
never another exception.

Structured fuzzing starts from valid documents and edits them (keys inserted in the
wrong place, deleted, values of another type); text fuzzing splices YAML constructs that
trip loaders (tags, aliases, anchors, odd scalars) into a valid file, or feeds raw text.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from monitor.config import Config, load_config
from monitor.engine import load_rules_text
from monitor.engine.ruleset import RuleSet
from monitor.errors import ConfigError, RuleError
from tests.fuzz.strategies import FUZZ, all_keys, mutated, yaml_text

ENV = {"K_TOKEN": "tok-fuzz-123456", "K_URL": "http://127.0.0.1:9"}

CONFIG_TEXT = """\
sources:
  - name: acme
    kind: kandji
    url: ${K_URL}
    token: ${K_TOKEN}
    interval: 5m
    budget: {requests_per_hour: 5000, burst_per_second: 10, concurrency: 8}
    retry: {max_attempts: 5, backoff_base: 1s}
  - name: win
    kind: applivery
    url: http://127.0.0.1:9/v1
    organization: acme-org
    token_file: token.txt
rules:
  builtin: false
  files: []
  disabled: []
receivers:
  - name: hook
    urls: ["json://user:pw@127.0.0.1:9/hook"]
    send_resolved: true
  - name: console
    console: true
route:
  receiver: hook
  group_by: [rule_id, source]
  group_wait: 30s
  routes:
    - match: {severity: critical}
      match_re: {rule_id: "kandji\\\\..*"}
      receiver: console
      continue: true
silences:
  - matchers: [{name: source, value: acme}]
    every: {days: [mon], start: "22:00", end: "06:00", timezone: Europe/Paris}
inhibit: {silent_after: 7d, device_gone: true}
notify: {first_start: baseline, outbox: {max_attempts: 3}}
store: {path: state/monitor.db}
web: {enabled: true, host: 127.0.0.1, port: 8080}
actions: {enabled: false, per_action: {kandji.tag: {per_sweep: 1}}}
log: {level: info, format: json}
shutdown_grace: 20s
"""

RULES_TEXT = """\
version: 1
defaults:
  source: kandji
  labels: {team: endpoint}
rules:
  - id: t.item.error
    description: "{{ subject.name }} failed"
    subject: library_item
    match:
      status: ERROR
      device.platform: [Mac]
    unless:
      - device.blueprint_name: {matches: "Lab.*"}
    for: 30m
    severity: warning
    labels: {owner: it}
    summary: "{{ subject.name }} is {{ subject.status }} on {{ device.name }}"
    actions:
      - {type: kandji.tag, params: {tag: noncompliant}, on: [first]}
  - id: t.device.silent
    subject: device
    match:
      last_check_in: {older_than: 7d}
      mdm.enabled: {eq: true}
overrides:
  - id: t.item.error
    severity: critical
    match: {status: {in: [ERROR, failed]}}
"""

CONFIG_DOC: dict[str, Any] = yaml.safe_load(CONFIG_TEXT)
RULES_DOC: dict[str, Any] = yaml.safe_load(RULES_TEXT)


def load_config_text(text: str) -> Config | ConfigError:
    """Load ``text`` as a config file; the ConfigError is returned, anything else raised."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        (Path(tmp) / "token.txt").write_text("tok-file-654321")
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            return load_config(path, env=ENV)
        except ConfigError as exc:
            error = exc
        assert str(path) in str(error), "the error names the file"
        assert error.file == str(path)
        assert error.reason
        assert "Traceback" not in str(error)
        assert "tok-fuzz-123456" not in str(error), "no secret in the error"
        return error


def load_rules(text: str) -> RuleSet | RuleError:
    """Load ``text`` as a rule file; the RuleError is returned, anything else raised."""
    try:
        return load_rules_text(text, file="fuzz-rules.yaml", env=ENV)
    except RuleError as exc:
        error = exc
    assert str(error).startswith("fuzz-rules.yaml"), "the error names the file"
    assert error.reason
    return error


def test_the_seed_documents_are_valid() -> None:
    assert isinstance(load_config_text(CONFIG_TEXT), Config)
    assert isinstance(load_rules(RULES_TEXT), RuleSet)


@FUZZ
@given(mutated(CONFIG_DOC, all_keys(CONFIG_DOC)))
def test_structurally_mutated_configs_load_or_name_the_problem(doc: Any) -> None:
    result = load_config_text(yaml.safe_dump(doc, allow_unicode=True))
    if isinstance(result, ConfigError) and result.key_path and isinstance(doc, dict):
        # The key path starts at a key the document has, or a key it lacks.
        keys = [str(k) for k in doc] + list(Config.model_fields)
        assert any(result.key_path.startswith(k) for k in keys), result


@FUZZ
@given(yaml_text(CONFIG_TEXT))
def test_config_text_with_troublesome_yaml_loads_or_names_the_problem(text: str) -> None:
    load_config_text(text)


@FUZZ
@given(mutated(RULES_DOC, all_keys(RULES_DOC)))
def test_structurally_mutated_rule_files_load_or_name_the_problem(doc: Any) -> None:
    load_rules(yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(yaml_text(RULES_TEXT))
def test_rule_text_with_troublesome_yaml_loads_or_names_the_problem(text: str) -> None:
    load_rules(text)


@FUZZ
@given(st.binary(max_size=200))
def test_config_files_that_are_not_text_are_refused_by_name(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_bytes(raw)
        try:
            load_config(path, env=ENV)
        except ConfigError as exc:
            assert_names(exc, path)


def assert_names(error: ConfigError, path: Path) -> None:
    """The error names the file it is about."""
    assert error.file == str(path)
