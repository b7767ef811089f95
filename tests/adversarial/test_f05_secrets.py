"""Finding 5: no secret reaches the database or a receiver.

An API that echoes the bearer token into a device name gets it redacted before it is
stored or sent; a rule file that names ``${KANDJI_TOKEN}`` is refused, since rule text is
what messages and the database are made of.
"""

from __future__ import annotations

from pathlib import Path

from tests.adversarial.hostile import EVERY_MAC_RULES, hostile_kandji, run_cli, write_config
from tests.adversarial.support import cli

TOKEN = "hostile-echoed-token-0005"


async def test_a_token_echoed_into_a_device_name_is_redacted_everywhere(tmp_path: Path) -> None:
    async with hostile_kandji(lambda i, token: f"Mac {i} of {token}") as kandji:
        cfg = write_config(tmp_path, kandji.base_url, TOKEN)
        res = await run_cli("once", "-c", str(cfg))
        assert kandji.seen_tokens
        assert set(kandji.seen_tokens) == {TOKEN}
    assert res.returncode == 1, res.stderr
    assert "Mac 0 of **********" in res.stdout
    assert TOKEN not in res.stdout + res.stderr
    for path in (tmp_path / "state").iterdir():
        assert TOKEN.encode() not in path.read_bytes(), path.name


def test_a_rule_file_naming_an_environment_variable_is_refused(tmp_path: Path) -> None:
    write_config(tmp_path, "http://127.0.0.1:9", TOKEN)
    (tmp_path / "rules.yaml").write_text(
        EVERY_MAC_RULES.replace('is a Mac"', 'is a Mac ${KANDJI_TOKEN}"')
    )
    res = cli(
        "validate", "-c", str(tmp_path / "config.yaml"), env={"KANDJI_TOKEN": "from-the-env"}
    )
    assert res.returncode == 2
    assert "rules.yaml:8: rules.0.summary" in res.stderr
    assert "not expanded" in res.stderr
    assert "from-the-env" not in res.stderr


def test_a_receiver_template_naming_an_environment_variable_is_refused(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, "http://127.0.0.1:9", TOKEN)
    cfg.write_text(
        cfg.read_text().replace(
            "    format: text\n", '    format: text\n    title_template: "${KANDJI_TOKEN}"\n'
        )
    )
    res = cli("validate", "-c", str(cfg), env={"KANDJI_TOKEN": "from-the-env"})
    assert res.returncode == 2
    assert "receivers.0.title_template" in res.stderr
