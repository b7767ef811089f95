"""Commands that only read or write local state run without the MDM tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adversarial.support import cli, config_text


@pytest.mark.parametrize(
    "command",
    [
        ("status",),
        ("silence", "list"),
        ("outbox", "list"),
        ("actions", "list"),
    ],
)
def test_local_state_commands_need_no_token(tmp_path: Path, command: tuple[str, ...]) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config_text())  # token: ${CM_TOKEN}, which is not set
    res = cli(*command, "-c", str(cfg))
    assert "CM_TOKEN" not in res.stderr
    assert "config error" not in res.stderr
    assert "Traceback" not in res.stderr


def test_commands_that_reach_the_mdm_still_need_it(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config_text())
    res = cli("once", "-c", str(cfg))
    assert res.returncode == 2
    assert "CM_TOKEN is not set" in res.stderr
