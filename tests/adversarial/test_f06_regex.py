"""Finding 6: no user regex can freeze the daemon.

A silence ``device_name=~"([A-Za-z0-9]+[ -]?)+"`` and a rule ``unless`` with a nested
quantifier meet device names built to make a backtracking engine take exponential time
(with Python's ``re`` one such match took 26 s at 25 characters; these have 40). With
RE2 the sweep, the evaluation and the delivery finish as usual.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from pydantic import ValidationError

from monitor.config import DigestScopeConfig, RouteConfig
from monitor.digest.runner import scope_filter
from monitor.models import Alert, AlertState
from monitor.notify.routing import build_routes
from monitor.patterns import compile_pattern, pattern_problem
from tests.adversarial.hostile import EVERY_MAC_RULES, hostile_kandji, run_cli, write_config
from tests.store.helpers import T0, finding

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


def test_a_digest_scope_pattern_is_re2_too() -> None:
    """Digests filter alerts by label patterns from the config: the same engine, so a
    nested quantifier against an end user's device name is linear, and syntax only a
    backtracking engine has is an error in the config."""
    scope = DigestScopeConfig(match_re={"device_name": CATASTROPHIC, "team": "end.*"})
    evil = dataclasses.replace(finding(), device_name=EVIL_NAME)
    plain = dataclasses.replace(finding(), device_name="Lab Mac 12")
    alert = Alert(fingerprint=evil.fingerprint, state=AlertState.FIRING, finding=evil,
                  active_since=T0, last_seen=T0, firing_since=T0)
    keep = scope_filter(scope, build_routes(RouteConfig(receiver="ops")))
    assert not keep(alert)  # "!" is outside the class: no match, and no stall
    assert keep(dataclasses.replace(alert, finding=plain))
    with pytest.raises(ValidationError, match="invalid regex"):
        DigestScopeConfig(match_re={"device_name": r"(a)\1"})
