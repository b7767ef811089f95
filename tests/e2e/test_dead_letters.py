"""A message the receiver keeps refusing is dead-lettered, counted, shown, and can be retried."""

from __future__ import annotations

from pathlib import Path

from monitor.app import App
from monitor.cli import build_parser
from monitor.commands import outbox
from monitor.config import load_config
from monitor.simulator.kandji import start_kandji
from tests.servers import webhook_server

TOKEN = "dead-letter-token-3e9f"


async def test_a_refused_message_is_dead_lettered_counted_shown_and_retried(
    tmp_path: Path,
) -> None:
    runner, url, sim = await start_kandji(
        "127.0.0.1", 0, devices=12, seed=9, token=TOKEN, per_second=None, per_hour=None
    )
    fleet = sim.fleet
    first = fleet.device_indices()[0]
    item = next(s.item for s in fleet.device_items(first) if not s.item.is_profile)
    fleet.set_item_status(fleet.device_id(first), item.id, "ERROR")
    try:
        async with webhook_server() as (hook, port):
            hook.status = 500
            path = tmp_path / "config.yaml"
            path.write_text(
                f"""
sources:
  - name: acme
    kind: kandji
    url: {url}
    token: ${{TOKEN}}
receivers:
  - name: hook
    urls: ["json://127.0.0.1:{port}/hook"]
route: {{receiver: hook}}
notify: {{outbox: {{max_attempts: 1}}}}
store: {{path: state.db}}
web: {{enabled: false}}
"""
            )
            cfg = load_config(path, env={"TOKEN": TOKEN})
            async with App(cfg) as app:
                _, firing = await app.run_once()
                assert firing > 0
                dead = await app.status.dead_letters()
                assert dead, "the refused messages are dead letters"
                assert all(d.receiver == "hook" and d.attempts == 1 for d in dead)
                scrape = app.metrics.render().decode()
                assert f"compliance_monitor_outbox_dead_letters {float(len(dead))}" in scrape
            refused = len(hook.bodies)

            # The administrator's commands, as the command line parses them.
            for argv in (["list"], ["retry", "--all-dead"]):
                args = build_parser().parse_args(["outbox", *argv, "-c", str(path)])
                assert await outbox.run(args, cfg) == 0

            hook.status = 200
            async with App(cfg) as app:
                await app.run_once()
                assert await app.status.dead_letters() == []
            delivered = hook.bodies[refused:]
            assert len(delivered) == len(dead), "every retried message arrives once"
    finally:
        await runner.cleanup()
