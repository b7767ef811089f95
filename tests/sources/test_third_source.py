"""A third source plugs in through the registry alone and is swept into an alert.

The Acme vendor (``tests/sources/acme/``) is written like a source package: config
model, client on the shared HTTP seam, mapping, field catalogue, sweeper, plugin.
Registering it is all it takes for the config to accept ``kind: acme``, for rule files
to name its fields and for the daemon to sweep it, evaluate, alert and deliver.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.app import App
from monitor.config import load_config
from monitor.engine import load_rules_text
from monitor.errors import RuleError
from monitor.simulator.server import serve_app
from monitor.sources import registry
from tests.servers import webhook_server
from tests.sources.acme import SOURCE
from tests.sources.acme.api import AcmeFleet, make_app

TOKEN = "acme-token-5d1e"

MACHINES: list[dict[str, Any]] = [
    {"id": "m1", "hostname": "build-01", "serial": "AC1", "os": "Linux",
     "encrypted": True, "seen": "2026-12-01T10:00:00Z"},
    {"id": "m2", "hostname": "laptop-ada", "serial": "AC2", "os": "Linux",
     "encrypted": "no", "seen": "2026-12-01T10:00:00Z"},
    {"id": "m3", "hostname": "laptop-bob", "serial": "AC3", "os": "Linux",
     "encrypted": "yes", "seen": "2026-12-01T10:00:00Z"},
]

RULES = """
rules:
  - id: acme.disk.unencrypted
    description: A machine's disk is not encrypted.
    source: acme
    subject: device
    match: {disk.encrypted: false}
    severity: critical
    summary: "{{ device.name }} has an unencrypted disk"
"""


@pytest.fixture
def acme() -> Iterator[None]:
    registry.register(SOURCE)
    try:
        yield
    finally:
        registry.unregister(SOURCE.kind)


def test_its_fields_become_nameable_and_a_typo_still_is_not(acme: None) -> None:
    assert "acme" in registry.kinds()
    rules = load_rules_text(RULES)
    assert [r.id for r in rules.enabled] == ["acme.disk.unencrypted"]
    with pytest.raises(RuleError, match=r"disk\.encrypt"):
        load_rules_text(RULES.replace("disk.encrypted:", "disk.encrypt:"))


def test_without_its_registration_the_kind_is_unknown() -> None:
    assert "acme" not in registry.kinds()
    with pytest.raises(RuleError):
        load_rules_text(RULES)


async def test_registered_it_is_swept_end_to_end_into_an_alert(
    acme: None, tmp_path: Path
) -> None:
    fleet = AcmeFleet(TOKEN, [dict(m) for m in MACHINES])
    runner, url = await serve_app(make_app(fleet), "127.0.0.1", 0)
    try:
        (tmp_path / "acme.yaml").write_text(RULES, encoding="utf-8")
        async with webhook_server() as (hook, port):
            cfg_path = tmp_path / "config.yaml"
            cfg_path.write_text(
                f"""
sources:
  - name: lab
    kind: acme
    url: {url}
    token: ${{TOKEN}}
    console_url: https://console.acme.example
rules: {{builtin: false, files: [acme.yaml]}}
receivers:
  - name: hook
    urls: ["json://127.0.0.1:{port}/hook"]
route: {{receiver: hook, group_by: [rule_id, source]}}
store: {{path: state.db}}
web: {{enabled: false}}
""",
                encoding="utf-8",
            )
            config = load_config(cfg_path, env={"TOKEN": TOKEN})
            async with App(config) as app:
                results, firing = await app.run_once()
                alerts = await app.status.alerts()
        assert [r.ok for r in results] == [True]
        assert firing == 1
        assert fleet.requests == 2  # two pages of two machines
        (alert,) = [a for a in alerts if a.rule_id == "acme.disk.unencrypted"]
        assert alert.device_name == "laptop-ada"
        assert alert.console_link == "https://console.acme.example/machines/m2"
        (message,) = [b for b in hook.bodies if "acme.disk.unencrypted" in b["title"]]
        assert "laptop-ada has an unencrypted disk" in message["message"]
    finally:
        await runner.cleanup()
