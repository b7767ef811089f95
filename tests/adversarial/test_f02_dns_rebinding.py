"""Finding 2: a page that rebinds its DNS name to 127.0.0.1 cannot read the fleet."""

from __future__ import annotations

import aiohttp
import pytest

from tests.adversarial.webapp import status_site


@pytest.mark.parametrize("path", ["/", "/api/alerts", "/api/status", "/metrics"])
async def test_a_foreign_host_header_is_refused(path: str) -> None:
    async with status_site() as base, aiohttp.ClientSession() as http:
        async with http.get(base + path, headers={"Host": "attacker.example"}) as resp:
            assert resp.status == 421
            assert "serial" not in await resp.text()
        async with http.get(base + path, headers={"Host": "attacker.example:8080"}) as resp:
            assert resp.status == 421
        async with http.get(base + path) as resp:  # Host: 127.0.0.1:PORT
            assert resp.status == 200
        async with http.get(base + path, headers={"Host": "localhost:8080"}) as resp:
            assert resp.status == 200


async def test_allowed_hosts_admit_the_names_given_and_the_loopback() -> None:
    async with (
        status_site(
            token="a-web-token-long-enough",
            listen_host="0.0.0.0",
            allowed_hosts=["monitor.example.org"],
        ) as base,
        aiohttp.ClientSession(
            headers={"Authorization": "Bearer a-web-token-long-enough"}
        ) as http,
    ):
        for host, status in (
            ("monitor.example.org", 200),
            ("MONITOR.example.org:443", 200),
            ("127.0.0.1:8080", 200),
            ("evil.example", 421),
        ):
            async with http.get(base + "/api/alerts", headers={"Host": host}) as resp:
                assert resp.status == status, host
