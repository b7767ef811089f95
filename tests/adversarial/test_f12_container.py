"""Finding 12: the container's health check works with a web token, and the image does
not run the example config when none is mounted."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.adversarial.support import cli, one_line
from tests.adversarial.webapp import status_site

DOCKERFILE = Path(__file__).parent.parent.parent / "Dockerfile"
TOKEN = "a-web-token-long-enough"


async def test_readyz_answers_without_the_token_but_keeps_its_reasons() -> None:
    async with (
        status_site(token=TOKEN) as base,
        aiohttp.ClientSession() as http,
        http.get(base + "/readyz") as resp,
    ):
        assert resp.status == 200
    reasons = ("source acme: last sweep failed: secret detail",)
    async with (
        status_site(token=TOKEN, ready=False, reasons=reasons) as base,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(base + "/readyz") as resp:
            assert resp.status == 503
            assert "secret detail" not in await resp.text()
        async with http.get(
            base + "/readyz", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as resp:
            assert resp.status == 503
            assert "secret detail" in await resp.text()


def test_the_image_has_no_default_config_and_checks_readyz() -> None:
    copies = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith("COPY")]
    assert not any("/etc/compliance-monitor" in line for line in copies), copies
    assert "/readyz" in DOCKERFILE.read_text()


def test_no_mounted_config_exits_2_with_one_line(tmp_path: Path) -> None:
    res = cli("run", "-c", str(tmp_path / "config.yaml"))
    assert res.returncode == 2
    assert "file not found" in one_line(res.stderr)
