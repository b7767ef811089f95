"""Finding 1: authentication cannot be switched off by an empty token, a guessable one
is refused, and guessing is slowed."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from monitor.errors import StartError
from monitor.metrics import Metrics
from monitor.web.app import MAX_FAILURES, build_web_app
from tests.adversarial.support import cli, config_text
from tests.adversarial.webapp import status_site
from tests.web.sample import sample_provider

TOKEN = "a-web-token-long-enough"


@pytest.mark.parametrize(
    ("web", "env", "reason"),
    [
        ("{host: 0.0.0.0, token: '${WEB_TOKEN:-}'}", {}, "web.token: is empty"),
        ("{host: 0.0.0.0, token: '${WEB_TOKEN}'}", {"WEB_TOKEN": ""}, "web.token: is empty"),
        ("{host: 0.0.0.0, token: x}", {}, "web.token: is shorter than 16"),
        ("{host: 0.0.0.0}", {}, "a token is required"),
    ],
)
def test_a_public_status_page_without_a_real_token_does_not_start(
    tmp_path: Path, web: str, env: dict[str, str], reason: str
) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(config_text().replace("web: {port: 0}", f"web: {web}"))
    res = cli("run", "-c", str(cfg), env={"CM_TOKEN": "a-valid-token-123", **env})
    assert res.returncode == 2
    assert reason in res.stderr


def test_an_empty_token_is_never_no_authentication() -> None:
    with pytest.raises(StartError):
        build_web_app(sample_provider(), Metrics(), token=SecretStr(""))


async def test_failed_logins_are_slowed_then_refused_even_with_the_right_token() -> None:
    async with status_site(token=TOKEN) as base, aiohttp.ClientSession() as http:
        for _ in range(MAX_FAILURES):
            async with http.get(
                base + "/api/alerts", headers={"Authorization": "Bearer guess"}
            ) as resp:
                assert resp.status == 401
        async with http.get(
            base + "/api/alerts", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as resp:
            assert resp.status == 429
            assert int(resp.headers["Retry-After"]) > 0
            body = await resp.text()
        assert "device" not in body
