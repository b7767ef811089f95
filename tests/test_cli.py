"""The command line as a cron job or systemd sees it: exit codes and messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

GOOD = """\
sources:
  - name: acme
    kind: kandji
    url: http://127.0.0.1:9
    token: ${CM_TEST_TOKEN}
receivers:
  - name: console
    console: true
route:
  receiver: console
"""


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        check=False,
    )


def test_validate_accepts_a_good_config(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(GOOD)
    res = cli("validate", "-c", str(cfg), env={"CM_TEST_TOKEN": "tok-123456"})
    assert res.returncode == 0, res.stderr
    assert "valid" in res.stdout
    assert "tok-123456" not in res.stdout + res.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("    token:", "    tokne:"), "sources.acme.tokne: unknown key"),
        (GOOD.replace("receiver: console\n", "receiver: pager\n"), "no receiver is named 'pager'"),
        (GOOD.replace("rece", "receivers:\n  - name: c\n    console: true\nrece", 1),
         "receivers: key appears twice"),
    ],
)
@pytest.mark.parametrize("command", ["validate", "once", "run"])
def test_broken_config_names_file_key_and_reason_and_exits_2(
    tmp_path: Path, text: str, expected: str, command: str
) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text)
    res = cli(command, "-c", str(cfg), env={"CM_TEST_TOKEN": "tok-123456"})
    assert res.returncode == 2
    assert str(cfg) in res.stderr
    assert expected in res.stderr
    assert "Traceback" not in res.stderr
    assert "tok-123456" not in res.stdout + res.stderr


def test_broken_rule_file_exits_2_naming_the_rule_file(tmp_path: Path) -> None:
    rules = tmp_path / "my-rules.yaml"
    rules.write_text(
        "rules:\n  - id: x.bad\n    source: kandji\n    subject: library_item\n"
        "    match:\n      statsu: {eq: ERROR}\n    severity: warning\n    summary: bad\n"
    )
    cfg = tmp_path / "config.yaml"
    cfg.write_text(GOOD + "rules:\n  files: [my-rules.yaml]\n")
    res = cli("validate", "-c", str(cfg), env={"CM_TEST_TOKEN": "tok-123456"})
    assert res.returncode == 2
    assert "my-rules.yaml" in res.stderr
    assert "statsu" in res.stderr
