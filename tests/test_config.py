"""Config loading: strict keys, ${ENV} secrets, errors that name file, key path and line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config import load_config, parse_duration
from monitor.errors import ConfigError

VALID = """\
sources:
  - name: acme
    kind: kandji
    url: http://127.0.0.1:8081
    token: ${TOKEN}
  - name: emea
    kind: kandji
    url: https://emea.api.eu.kandji.io/
    token_file: emea.token
receivers:
  - name: console
    console: true
  - name: hooks
    urls: ["json://user:${HOOK_PASS}@127.0.0.1:9/x"]
route:
  receiver: console
  routes:
    - match: {severity: critical}
      receiver: hooks
"""


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_valid_config_with_two_tenants_loads(tmp_path: Path) -> None:
    (tmp_path / "emea.token").write_text("emea-secret-token\n")
    cfg = load_config(write(tmp_path, VALID), env={"TOKEN": "t0ken-acme", "HOOK_PASS": "pw"})
    assert [s.name for s in cfg.sources] == ["acme", "emea"]
    assert cfg.sources[1].url == "https://emea.api.eu.kandji.io"
    assert cfg.sources[0].resolve_token().get_secret_value() == "t0ken-acme"
    assert cfg.sources[1].resolve_token().get_secret_value() == "emea-secret-token"
    assert cfg.store.path == tmp_path / "state/monitor.db"


def test_secrets_never_show_in_repr(tmp_path: Path) -> None:
    (tmp_path / "emea.token").write_text("x")
    cfg = load_config(write(tmp_path, VALID), env={"TOKEN": "t0ken-acme", "HOOK_PASS": "hunter22"})
    text = repr(cfg) + str(cfg) + cfg.model_dump_json()
    assert "t0ken-acme" not in text
    assert "hunter22" not in text


@pytest.mark.parametrize(
    ("mutate", "key_path", "reason", "line"),
    [
        (
            lambda t: t.replace("    token: ${TOKEN}\n", "    token: ${TOKEN}\n    tokn: x\n"),
            "sources.acme.tokn",
            "unknown key",
            6,
        ),
        (
            lambda t: t.replace("kind: kandji\n    url: http://", "kind: jamf\n    url: http://"),
            "sources.acme.kind",
            "kind must be one of",
            3,
        ),
        (
            lambda t: t.replace("url: http://127.0.0.1:8081", "url: 127.0.0.1:8081"),
            "sources.acme.url",
            "must start with http",
            4,
        ),
        (
            lambda t: t.replace("receiver: hooks", "receiver: pager"),
            "",
            "no receiver is named 'pager'",
            None,
        ),
        (
            lambda t: t.replace("  - name: emea", "  - name: acme"),
            "",
            "two sources are named 'acme'",
            None,
        ),
        (lambda t: t + "shutdown_grace: soon\n", "shutdown_grace", "expected a duration", 20),
        (
            lambda t: t.replace("    token: ${TOKEN}\n", ""),
            "sources.acme",
            "exactly one of token",
            2,
        ),
    ],
)
def test_invalid_config_names_file_key_and_reason(
    tmp_path: Path, mutate: object, key_path: str, reason: str, line: int | None
) -> None:
    assert callable(mutate)
    path = write(tmp_path, mutate(VALID))
    (tmp_path / "emea.token").write_text("x")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={"TOKEN": "t", "HOOK_PASS": "p"})
    err = info.value
    assert err.file == str(path)
    assert err.key_path == key_path
    assert reason in err.reason
    assert err.line == line
    assert str(path) in str(err)


def test_missing_env_var_names_the_variable_not_a_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, VALID), env={"HOOK_PASS": "p"})
    assert info.value.key_path == "sources.0.token"
    assert "TOKEN is not set" in info.value.reason


def test_env_default_and_literal_escape(tmp_path: Path) -> None:
    text = VALID.replace("${TOKEN}", "${TOKEN:-fallback-token}").replace(
        "console: true", 'console: true\n    title_template: "$${literal}"'
    )
    (tmp_path / "emea.token").write_text("x")
    cfg = load_config(write(tmp_path, text), env={"HOOK_PASS": "p"})
    assert cfg.sources[0].resolve_token().get_secret_value() == "fallback-token"
    assert cfg.receivers[0].title_template == "${literal}"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "must be a mapping"),
        ("sources: [\n", "not valid YAML"),
        ("- 1\n- 2\n", "must be a mapping"),
        ("a: 1\na: 2\n", "key appears twice"),
    ],
)
def test_unparseable_documents_are_config_errors(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        load_config(write(tmp_path, text), env={})


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("7d", 604800),
        (12, 12),
        ("250ms", 0.25),
        ("2", 2),
    ],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == timedelta(seconds=seconds)


@pytest.mark.parametrize("value", ["soon", "-5s", -1, True, "5x", ""])
def test_bad_durations_are_rejected(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


def test_web_beyond_loopback_needs_a_token(tmp_path: Path) -> None:
    (tmp_path / "emea.token").write_text("x")
    path = write(tmp_path, VALID + "web: {host: 0.0.0.0}\n")
    with pytest.raises(ConfigError, match="token is required"):
        load_config(path, env={"TOKEN": "t", "HOOK_PASS": "p"})


def test_example_config_is_valid() -> None:
    cfg = load_config(Path(__file__).parent.parent / "config.example.yaml", env={})
    assert cfg.sources[0].kind == "kandji"
