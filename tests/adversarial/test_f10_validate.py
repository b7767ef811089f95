"""Finding 10: ``validate`` reports every mistake that would stop or silence the daemon.

One file with five different mistakes: all five are printed, each with the file, the
line, the key path (sources by name) and the reason, and the exit code is 2. A bad
apprise URL, a missing token file, a read-only state folder and a short web token beside
a public address are among them, since the schema alone accepts them.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.adversarial.support import cli, immutable

FIVE_MISTAKES = """\
sources:
  - name: acme
    kind: kandji
    url: http://127.0.0.1:9
    token_file: acme.token
  - name: emea
    kind: kandji
    url: http://127.0.0.1:9
    token: ${EMEA_TOKEN}
    intervall: 5m
receivers:
  - name: slack
    urls: ["slack://onlyonetoken"]
  - name: hooks
    urls: ["jsn://127.0.0.1:9/x"]
route:
  receiver: slack
web:
  host: 0.0.0.0
  token: short
store:
  path: state/monitor.db
"""


def test_validate_prints_all_five_mistakes_and_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(FIVE_MISTAKES)
    (tmp_path / "state").mkdir()
    with immutable(tmp_path / "state"):
        res = cli("validate", "-c", str(cfg), env={"EMEA_TOKEN": "a-valid-token-123"})
    assert res.returncode == 2, res.stderr
    problems = [line for line in res.stderr.splitlines() if line.startswith("invalid: ")]
    expected = [
        (5, "sources.acme.token_file", "No such file"),
        (10, "sources.emea.intervall", "unknown key"),
        (13, "receivers.slack.urls.0", "slack:// does not accept"),
        (15, "receivers.hooks.urls.0", "no service is called jsn://"),
        (20, "web.token", "shorter than 16"),
        (22, "store.path", "not writable"),
    ]
    assert len(problems) == len(expected), res.stderr
    for line, (number, key, reason) in zip(problems, expected, strict=True):
        match = re.match(rf"invalid: {re.escape(str(cfg))}:(\d+): ([\w.]+): (.*)$", line)
        assert match, line
        assert (int(match.group(1)), match.group(2)) == (number, key)
        assert reason in match.group(3)
    assert "onlyonetoken" not in res.stderr, "a receiver URL is a secret"
    assert "Traceback" not in res.stderr


def test_an_empty_web_token_beside_a_public_host_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        FIVE_MISTAKES.replace("token: short", "token: ${WEB_TOKEN:-}")
        .replace("slack://onlyonetoken", "json://127.0.0.1:9/x")
        .replace("jsn://", "json://")
        .replace("    intervall: 5m\n", "")
        .replace("token_file: acme.token", "token: ${EMEA_TOKEN}")
    )
    res = cli("validate", "-c", str(cfg), env={"EMEA_TOKEN": "a-valid-token-123"})
    assert res.returncode == 2
    assert "web.token: is empty" in res.stderr


def test_a_valid_config_passes(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        FIVE_MISTAKES.replace("token: short", "token: a-long-enough-web-token")
        .replace("slack://onlyonetoken", "json://127.0.0.1:9/x")
        .replace("jsn://", "json://")
        .replace("    intervall: 5m\n", "")
        .replace("token_file: acme.token", "token: ${EMEA_TOKEN}")
    )
    res = cli("validate", "-c", str(cfg), env={"EMEA_TOKEN": "a-valid-token-123"})
    assert res.returncode == 0, res.stderr
