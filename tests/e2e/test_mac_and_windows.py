"""One config, a Kandji tenant and an Applivery organization, both simulated.

One sweep flags Mac library items and Windows devices, and every message says which
system its alerts came from.
"""

from __future__ import annotations

from pathlib import Path

from monitor.app import App
from monitor.config import load_config
from monitor.simulator.applivery import start_applivery
from monitor.simulator.kandji import start_kandji
from tests.servers import webhook_server

TOKEN = "mixed-fleet-token-77aa"


async def test_one_sweep_flags_mac_items_and_windows_devices_and_names_each_system(
    tmp_path: Path,
) -> None:
    k_runner, k_url, k_sim = await start_kandji(
        "127.0.0.1", 0, devices=20, seed=4, token=TOKEN, per_second=None, per_hour=None
    )
    w_runner, w_url, w_sim = await start_applivery(
        "127.0.0.1", 0, devices=10, seed=4, token=TOKEN, organization="acme-win"
    )
    try:
        healthy = [
            d
            for d in w_sim.fleet.devices
            if d.state == "ACTIVE" and not d.silent and d.compliant is not False
        ]
        target = healthy[0]
        w_sim.fleet.set_compliance(target.id, False)
        async with webhook_server() as (hook, port):
            cfg_path = tmp_path / "config.yaml"
            cfg_path.write_text(
                f"""
sources:
  - name: macs
    kind: kandji
    url: {k_url}
    token: ${{TOKEN}}
    strategy: per_device
  - name: pcs
    kind: applivery
    url: {w_url}
    organization: acme-win
    token: ${{TOKEN}}
receivers:
  - name: hook
    urls: ["json://127.0.0.1:{port}/hook"]
route:
  receiver: hook
  group_by: [rule_id, source]
store: {{path: state.db}}
web: {{enabled: false}}
"""
            )
            cfg = load_config(cfg_path, env={"TOKEN": TOKEN})
            async with App(cfg) as app:
                results, firing = await app.run_once()
            assert all(r.ok for r in results)
            assert firing > 0
            windows = [b for b in hook.bodies if "applivery.windows.non-compliant" in b["title"]]
            assert len(windows) == 1
            assert 'applivery "pcs"' in windows[0]["title"]
            assert target.display_name in windows[0]["message"] or (
                target.hostname in windows[0]["message"]
            )
            macs = [
                b
                for b in hook.bodies
                if b["title"].startswith("[FIRING") and "kandji." in b["title"]
            ]
            assert macs, "Mac library items are flagged in the same run"
            assert all('kandji "macs"' in b["title"] for b in macs)
            assert k_sim.requests.total > 0
            assert w_sim.requests.total > 0
    finally:
        await k_runner.cleanup()
        await w_runner.cleanup()
