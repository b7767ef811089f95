"""From a (simulated) Kandji tenant to an email and a webhook alert, every stage real.

The simulator is an aiohttp server on loopback, the store a SQLite file, the email goes
through apprise ``mailto://`` to an aiosmtpd server, the webhook through apprise
``json://`` to an aiohttp server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from monitor.app import App
from monitor.clock import FakeClock
from monitor.config import Config, load_config
from monitor.models import AlertState
from monitor.simulator.kandji import KandjiSimulator, start_kandji
from tests.servers import Webhook, mailto_url, smtp_server, webhook_server

TOKEN = "kandji-e2e-token-5d1c"
MAIL_PASSWORD = "smtp-pass-91ab"


@dataclass
class Tenant:
    url: str
    sim: KandjiSimulator
    runner: web.AppRunner


async def start_tenant(seed: int, devices: int = 24) -> Tenant:
    runner, url, sim = await start_kandji(
        "127.0.0.1", 0, devices=devices, seed=seed, token=TOKEN, per_second=None, per_hour=None
    )
    plant_errors(sim)
    return Tenant(url, sim, runner)


@pytest.fixture
async def tenant() -> AsyncIterator[Tenant]:
    t = await start_tenant(seed=11)
    try:
        yield t
    finally:
        await t.runner.cleanup()


@pytest.fixture
async def hook() -> AsyncIterator[tuple[Webhook, int]]:
    async with webhook_server() as h:
        yield h


def write_config(
    tmp_path: Path,
    sources: list[tuple[str, str]],
    receivers: str,
    *,
    retry: str = "{max_attempts: 2, backoff_base: 10ms, backoff_max: 20ms}",
) -> Config:
    lines = ["sources:"]
    for name, url in sources:
        lines += [
            f"  - name: {name}",
            "    kind: kandji",
            f"    url: {url}",
            "    token: ${E2E_TOKEN}",
            "    strategy: per_device",
            f"    retry: {retry}",
            "    budget: {requests_per_hour: 100000, burst_per_second: 1000, concurrency: 8}",
        ]
    text = (
        "\n".join(lines)
        + "\n"
        + receivers
        + (
            "route:\n  receiver: hook\n  group_by: [rule_id, source]\n"
            "store:\n  path: state.db\nweb:\n  enabled: false\n"
        )
    )
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(path, env={"E2E_TOKEN": TOKEN})


def hook_receiver(port: int) -> str:
    return f'receivers:\n  - name: hook\n    urls: ["json://127.0.0.1:{port}/hook"]\n'


def checked_in(sim: KandjiSimulator, i: int) -> bool:
    """Whether a device checked in within the week (older ones are muted by inhibition)."""
    seen = sim.fleet.device(i).last_check_in
    return seen is not None and (sim.fleet.now() - seen).days < 7


def plant_errors(sim: KandjiSimulator, devices: int = 4) -> None:
    """Put one more library item in ERROR on a few devices that check in."""
    fleet = sim.fleet
    planted = 0
    for i in fleet.device_indices():
        if planted == devices:
            return
        if not checked_in(sim, i):
            continue
        passing = [s for s in fleet.device_items(i) if s.status == "PASS"]
        if passing:
            fleet.set_item_status(fleet.device_id(i), passing[0].item.id, "ERROR")
            planted += 1
    assert planted == devices


def failing_items(sim: KandjiSimulator) -> list[tuple[str, str, str, str]]:
    """(device id, device name, serial, item name) of every item in ERROR, from the simulator."""
    fleet = sim.fleet
    out = []
    for i in fleet.device_indices():
        if not checked_in(sim, i):
            continue
        dev = fleet.device(i)
        for state in fleet.device_items(i):
            if state.status == "ERROR":
                out.append((dev.id, dev.name, dev.serial_number, state.item.name))
    return out


async def test_email_alert_arrives_at_a_real_smtp_server(tenant: Tenant, tmp_path: Path) -> None:
    with smtp_server(MAIL_PASSWORD) as (box, port):
        receivers = f'receivers:\n  - name: hook\n    urls: ["{mailto_url(port, MAIL_PASSWORD)}"]\n'
        cfg = write_config(tmp_path, [("acme", tenant.url)], receivers)
        async with App(cfg) as app:
            results, firing = await app.run_once()
        assert results[0].ok
        assert firing > 0
        texts = box.texts()
        error_group = [t for t in texts if "kandji.library-item.error" in t]
        assert len(error_group) == 1, "one grouped message for the rule, not one per device"
        [message] = error_group
        assert "FIRING" in message
        for _, name, serial, item in failing_items(tenant.sim):
            assert serial in message
            assert item in message
            assert name in message
        html = [p for m in box.received for p in m.walk() if p.get_content_type() == "text/html"]
        assert html, "the email carries an HTML part"


async def test_webhook_alert_arrives_and_names_rule_items_and_devices(
    tenant: Tenant, hook: tuple[Webhook, int], tmp_path: Path
) -> None:
    received, port = hook
    cfg = write_config(tmp_path, [("acme", tenant.url)], hook_receiver(port))
    async with App(cfg) as app:
        await app.run_once()
    errors = [b for b in received.bodies if "kandji.library-item.error" in b["title"]]
    assert len(errors) == 1
    body = errors[0]["message"]
    truth = failing_items(tenant.sim)
    assert f"{len(truth)} new alerts" in body or f"{len(truth)} new alert" in body
    for _, _, serial, item in truth:
        assert serial in body
        assert item in body


async def test_restart_on_the_same_database_sends_no_second_first_alert(
    tenant: Tenant, hook: tuple[Webhook, int], tmp_path: Path
) -> None:
    received, port = hook
    cfg = write_config(tmp_path, [("acme", tenant.url)], hook_receiver(port))
    async with App(cfg) as app:
        await app.run_once()
    first = len(received.bodies)
    assert first > 0
    # A new process on the same database, the fleet unchanged: nothing to say.
    async with App(cfg) as app:
        _, firing = await app.run_once()
    assert firing > 0
    assert len(received.bodies) == first
    # Repair one item: the next run says exactly that, as a resolved notice.
    dev_id, _, serial, item = failing_items(tenant.sim)[0]
    item_id = next(
        s.item.id
        for s in tenant.sim.fleet.device_items(tenant.sim.fleet.require(dev_id))
        if s.item.name == item
    )
    tenant.sim.fleet.set_item_status(dev_id, item_id, "PASS")
    async with App(cfg) as app:
        await app.run_once()
    new = received.bodies[first:]
    assert len(new) == 1
    assert new[0]["title"].startswith("[RESOLVED")
    assert serial in new[0]["message"]


async def test_a_sweep_that_fails_halfway_resolves_nothing_it_did_not_see(
    tenant: Tenant, hook: tuple[Webhook, int], tmp_path: Path
) -> None:
    received, port = hook
    cfg = write_config(tmp_path, [("acme", tenant.url)], hook_receiver(port))
    async with App(cfg) as app:
        await app.run_once()
    truth = failing_items(tenant.sim)
    broken = {dev_id for dev_id, *_ in truth[::2]}
    healthy = {dev_id for dev_id, *_ in truth} - broken
    assert broken
    assert healthy
    # Every failing item is repaired, but the status calls of half the devices fail.
    fleet = tenant.sim.fleet
    for dev_id, *_ in truth:
        for state in fleet.device_items(fleet.require(dev_id)):
            if state.status == "ERROR":
                fleet.set_item_status(dev_id, state.item.id, "PASS")
    pattern = "/api/v1/devices/(" + "|".join(sorted(broken)) + ")/status"
    tenant.sim.add_fault(pattern, "500")
    before = len(received.bodies)
    async with App(cfg) as app:
        results, _ = await app.run_once()
        alerts = await app.status.stored_alerts("acme")
    assert not results[0].ok, "a sweep with failed devices is reported as failed"
    by_device: dict[str, set[AlertState]] = {}
    for a in alerts.values():
        if a.rule_id == "kandji.library-item.error":
            by_device.setdefault(a.finding.device_id, set()).add(a.state)
    for dev_id in broken:
        assert by_device[dev_id] == {AlertState.FIRING}, "unseen devices are held"
    for dev_id in healthy:
        assert by_device[dev_id] == {AlertState.RESOLVED}
    resolved_text = "\n".join(b["message"] for b in received.bodies[before:])
    names = {dev_id: serial for dev_id, _, serial, _ in truth}
    for dev_id in broken:
        assert names[dev_id] not in resolved_text.split("Resolved on")[-1]


async def test_429_with_retry_after_is_honoured(tmp_path: Path, hook: tuple[Webhook, int]) -> None:
    clock = FakeClock(autojump=True)
    runner, url, sim = await start_kandji(
        "127.0.0.1",
        0,
        devices=30,
        seed=5,
        token=TOKEN,
        per_second=5,
        per_hour=None,
        clock=clock,
    )
    # The client keeps under the per-second limit the headers report, so the 429s come
    # from the gateway's other reasons: two answers on the device list, Retry-After: 1.
    sim.add_fault(r"/devices$", "429", count=2, retry_after=1)
    try:
        _, port = hook
        cfg = write_config(
            tmp_path,
            [("acme", url)],
            hook_receiver(port),
            retry="{max_attempts: 6, backoff_base: 10ms, backoff_max: 20ms}",
        )
        async with App(cfg, clock=clock) as app:
            results, firing = await app.run_once()
        assert results[0].ok
        assert firing > 0
        records = list(sim.requests.records)
        limited = [r for r in records if r.status == 429]
        assert len(limited) == 2
        # After a 429 (Retry-After: 1), the client waited at least a second of the
        # shared clock before it asked again.
        first_429 = min(r.at for r in limited)
        later = [r for r in records if r.at > first_429]
        assert later
        assert (min(r.at for r in later) - first_429).total_seconds() >= 1.0 - 1e-6
    finally:
        await runner.cleanup()


async def test_two_tenants_in_one_config_are_both_swept(
    tmp_path: Path, hook: tuple[Webhook, int]
) -> None:
    a = await start_tenant(seed=21)
    b = await start_tenant(seed=22)
    try:
        received, port = hook
        cfg = write_config(tmp_path, [("us", a.url), ("eu", b.url)], hook_receiver(port))
        async with App(cfg) as app:
            results, _ = await app.run_once()
            alerts = await app.status.stored_alerts()
        assert {r.source for r in results} == {"us", "eu"}
        assert all(r.ok for r in results)
        assert {a.finding.source for a in alerts.values()} == {"us", "eu"}
        assert a.sim.requests.total > 0
        assert b.sim.requests.total > 0
        text = received.text()
        assert '"us"' in text
        assert '"eu"' in text
    finally:
        await a.runner.cleanup()
        await b.runner.cleanup()
