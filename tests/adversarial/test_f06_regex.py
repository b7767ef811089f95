"""Finding 6: no user regex can freeze the daemon.

A silence ``device_name=~"([A-Za-z0-9]+[ -]?)+"`` and a rule ``unless`` with a nested
quantifier meet device names built to make a backtracking engine take exponential time
(with Python's ``re`` one such match took 26 s at 25 characters; these have 40). With
RE2 the sweep, the evaluation and the delivery finish as usual.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.patterns import compile_pattern, pattern_problem
from tests.adversarial.hostile import EVERY_MAC_RULES, hostile_kandji, run_cli, write_config

TOKEN = "hostile-test-token-0006"
EVIL_NAME = "a" * 40 + "!"
CATASTROPHIC = "([A-Za-z0-9]+[ -]?)+"


async def test_catastrophic_patterns_against_hostile_names_do_not_stall(tmp_path: Path) -> None:
    async with hostile_kandji(lambda i, _: EVIL_NAME) as kandji:
        cfg = write_config(tmp_path, kandji.base_url, TOKEN)
        cfg.write_text(
            cfg.read_text()
            + "silences:\n  - matchers:\n"
            + f"      - {{name: device_name, op: '=~', value: '{CATASTROPHIC}'}}\n"
            + "    comment: catastrophic\n"
        )
        (tmp_path / "rules.yaml").write_text(
            EVERY_MAC_RULES + "    unless:\n      - device.name: {matches: '(a|aa)+b'}\n"
        )
        res = await run_cli("once", "-c", str(cfg))
    assert res.returncode == 1, res.stderr  # firing: the unless did not match, nor the silence
    assert EVIL_NAME in res.stdout


def test_the_same_pattern_means_the_same_everywhere() -> None:
    pattern = compile_pattern("Lab.*")
    assert pattern.matches("Lab-12")
    assert not pattern.matches("MyLab-12")
    assert not compile_pattern("Lab").matches("Lab-12")


@pytest.mark.parametrize("text", [r"(a)\1", "(?=a)a", "(?<!x)y"])
def test_backtracking_only_syntax_is_refused(text: str) -> None:
    assert pattern_problem(text) is not None
