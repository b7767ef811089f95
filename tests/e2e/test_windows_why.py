"""A non-compliant Windows PC, from the simulated Applivery API to a webhook: the
message says why (the policy settings it failed to apply)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor.app import App
from monitor.config import load_config
from monitor.simulator.applivery import start_applivery
from tests.servers import webhook_server

TOKEN = "windows-why-token-3c1d"
ENCRYPTION = "./Device/Vendor/MSFT/Policy/Config/Security/RequireDeviceEncryption"
FIREWALL = "./Vendor/MSFT/Firewall/MdmStore/DomainProfile/EnableFirewall"


def _config(tmp_path: Path, url: str, port: int, console_url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"""
sources:
  - name: pcs
    kind: applivery
    url: {url}
    organization: acme-win
    token: ${{TOKEN}}
    console_url: {console_url}
rules:
  disabled: [applivery.windows.not-reporting, applivery.windows.refresh-info-needed,
             applivery.windows.state, applivery.windows.sync-error]
receivers:
  - name: hook
    urls: ["json://127.0.0.1:{port}/hook"]
route:
  receiver: hook
  group_by: ["..."]
store: {{path: state.db}}
web: {{enabled: false}}
""")
    return path


async def _one_sweep(tmp_path: Path, console_url: str) -> list[dict[str, Any]]:
    runner, url, sim = await start_applivery(
        "127.0.0.1", 0, devices=6, seed=9, token=TOKEN, organization="acme-win"
    )
    try:
        for d in sim.fleet.devices:
            sim.fleet.set_compliance(d.id, True)
            d.config_errors.clear()
        target = sim.fleet.devices[0]
        sim.fleet.set_state(target.id, "ACTIVE")
        sim.fleet.set_compliance(target.id, False)
        target.config_errors.extend([ENCRYPTION, FIREWALL])
        async with webhook_server() as (hook, port):
            cfg = load_config(_config(tmp_path, url, port, console_url), env={"TOKEN": TOKEN})
            async with App(cfg) as app:
                results, _ = await app.run_once()
            assert all(r.ok for r in results)
            return [b for b in hook.bodies
                            if "applivery.windows.non-compliant" in b["title"]]
    finally:
        await runner.cleanup()


async def test_the_message_says_which_policy_settings_failed(tmp_path: Path) -> None:
    [message] = await _one_sweep(tmp_path, "https://dashboard.example.test/acme-win")
    body = message["message"]
    assert "is not compliant: 2 policy settings failed" in body
    assert ENCRYPTION in body
    assert FIREWALL in body
