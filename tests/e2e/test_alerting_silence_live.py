"""A silence added and expired with the command line while the daemon runs: no restart.

The daemon (``App.run``) runs in this event loop on a fake clock against a simulated
tenant and delivers through apprise to a webhook on loopback; the command works on the
same database file through its own connection, as it would from another terminal.
"""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.app import App
from monitor.cli import build_parser
from monitor.clock import FakeClock
from monitor.commands import silence
from monitor.config import Config, load_config
from monitor.models import SubjectKind, fingerprint
from tests.e2e.alerting_support import (  # noqa: F401 - fresh_logging is a fixture
    Delivery,
    Slot,
    advance_until,
    fresh_logging,
    names,
    quiet_spec,
    set_status,
    slots,
    tenant,
    webhook,
    write_config,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
PARKED = 4  # the sweep loop, the notification loop, housekeeping and the lease keeper

pytestmark = pytest.mark.usefixtures("fresh_logging")


async def cli_silence(config_file: Path, config: Config, clock: FakeClock, *argv: str) -> str:
    args = build_parser().parse_args(["silence", argv[0], "-c", str(config_file), *argv[1:]])
    out, err = io.StringIO(), io.StringIO()
    code = await silence.run(args, config, clock=clock, out=out, err=err)
    assert code == 0, err.getvalue()
    return out.getvalue()


def fp(slot: Slot) -> str:
    return fingerprint("acme", "test.item.failed", slot.device_id, SubjectKind.LIBRARY_ITEM,
                       slot.item_id)


async def test_silence_from_the_cli_mutes_a_running_daemon_and_its_expiry_announces(
    tmp_path: Path,
) -> None:
    clock = FakeClock(T0)
    async with tenant(quiet_spec(devices=6), clock=clock) as (url, sim), webhook() as hook:
        fleet = sim.fleet
        a_x, a_y, c_z, _ = slots(fleet, 4, per_device=2)
        assert a_x.device_id == a_y.device_id != c_z.device_id
        set_status(fleet, a_x, "ERROR")
        set_status(fleet, c_z, "ERROR")
        cfg = write_config(
            tmp_path, kandji_url=url,
            receivers=f"receivers:\n  - name: ops\n    urls: ['{hook.url('ops')}']",
            route="route:\n  receiver: ops\n  group_by: [device_id]\n  group_wait: 30s\n"
                  "  group_interval: 2m\n  repeat_interval: 4h",
        )
        config = load_config(cfg)

        def ops() -> list[Delivery]:
            return hook.of("ops")

        async with App(config, clock=clock) as app:
            daemon = asyncio.create_task(app.run())
            await advance_until(clock, lambda: len(ops()) >= 2, step=10, parked=PARKED,
                                limit=300, what="the first two messages")
            assert sorted(d.title.split("]")[0] for d in ops()) == ["[FIRING:1", "[FIRING:1"]

            # Another terminal: silence device A (it is being reimaged).
            assert await cli_silence(cfg, config, clock, "add", f"device_id={a_x.device_id}",
                                     "--duration", "3h", "--comment", "reimaging") == "1\n"
            set_status(fleet, a_y, "ERROR")  # breaks while silenced
            set_status(fleet, c_z, "PASS")  # recovers on an unsilenced device
            await advance_until(clock, lambda: len(ops()) >= 3, step=10, parked=PARKED,
                                limit=600, what="the resolved message of device C")
            resolved = ops()[2]
            assert resolved.title.startswith("[RESOLVED:1]"), names(ops())
            assert c_z.device_name in resolved.body
            # The same evaluation saw A's new failure, muted: A's receiver still only
            # knows of the first one, and no message names the second.
            logs = await app.status.notification_logs()
            [a_log] = [e for e in logs.values() if e.labels == {"device_id": a_x.device_id}]
            assert a_log.firing == {fp(a_x)}
            assert not any(a_y.item_name in d.body for d in ops())

            # Another terminal: the reimaging is over early.
            out = await cli_silence(cfg, config, clock, "expire", "1")
            assert out.startswith("silence 1 expired")
            await advance_until(clock, lambda: len(ops()) >= 4, step=10, parked=PARKED,
                                limit=600, what="the message after the silence ended")
            news = ops()[3]
            assert news.title.startswith("[FIRING:2]"), names(ops())
            assert news.body.startswith("1 new alert, 2 firing in all")
            assert a_y.item_name in news.body
            assert a_x.device_name in news.body
            logs = await app.status.notification_logs()
            [a_log] = [e for e in logs.values() if e.labels == {"device_id": a_x.device_id}]
            assert a_log.firing == {fp(a_x), fp(a_y)}
            assert len(ops()) == 4

            app.stop()
            await daemon
