"""Finding 13: templates and config files cannot take the daemon's memory or time."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adversarial.hostile import EVERY_MAC_RULES, write_config
from tests.adversarial.support import cli, one_line

TOKEN = "hostile-test-token-0013"


@pytest.mark.parametrize(
    "expression",
    [
        "'x' * 300000000",
        "'x' | center(300000000)",
        "'%300000000s' % 'x'",
        "range(300000000) | list | length",
        "'{:>300000000}'.format('x')",
    ],
)
def test_a_rule_template_asking_for_gigabytes_is_refused(tmp_path: Path, expression: str) -> None:
    cfg = write_config(tmp_path, "http://127.0.0.1:9", TOKEN)
    (tmp_path / "rules.yaml").write_text(
        EVERY_MAC_RULES.replace('"{{ device.name }} is a Mac"', f'"{{{{ {expression} }}}}"')
    )
    res = cli("validate", "-c", str(cfg))
    assert res.returncode == 2, res.stdout
    assert "rules.0.summary" in res.stderr
    assert "refused" in res.stderr


def test_a_receiver_template_asking_for_gigabytes_is_refused_when_rendered(
    tmp_path: Path,
) -> None:
    from monitor.config import ReceiverConfig
    from monitor.notify.templates import Templates

    receiver = ReceiverConfig(
        name="r", console=True, body_template="{{ 'x' * 300000000 }}"
    )
    # The receiver's own template fails; the default one is used instead.
    _, body, _ = Templates([receiver]).render(receiver, _context(receiver))
    assert "x" * 1000 not in body


def _context(receiver: object) -> dict[str, object]:
    from tests.notify.test_templates import alerts, context

    return context(receiver, alerts("d1"))  # type: ignore[arg-type]


def test_a_17_mb_config_is_refused_before_parsing(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    with cfg.open("w") as fh:
        fh.write("sources:\n")
        fh.write("  - {name: a, kind: kandji, url: 'http://x', token: t}\n" * 300_000)
    assert cfg.stat().st_size > 16_000_000
    res = cli("run", "-c", str(cfg))
    assert res.returncode == 2
    assert "refused before parsing" in one_line(res.stderr)
