"""State that outlives a process: the hourly request budget shared by successive ``once``
runs, and a source's failure remembered across a restart."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.app import App
from monitor.clock import FakeClock, SystemClock
from monitor.config import load_config
from monitor.health import SOURCE_UNHEALTHY_RULE
from monitor.models import AlertState
from monitor.sources.kandji.api import BLUEPRINT_LIBRARY_ITEMS, BLUEPRINTS
from monitor.store import open_store
from tests.e2e.alerting_support import RULES, TOKEN, fresh_logging, quiet_spec, tenant  # noqa: F401
from tests.servers import free_port
from tests.store.helpers import T0

pytestmark = pytest.mark.usefixtures("fresh_logging")

CONFIG = """\
sources:
  - name: acme
    kind: kandji
    url: {url}
    token: {token}
    strategy: per_device
    unhealthy_after: 5m
    budget: {{requests_per_hour: {per_hour}, burst_per_second: 1000, concurrency: 4}}
    retry: {{max_attempts: 1, backoff_base: 10ms, backoff_max: 20ms}}
rules:
  builtin: false
  files: [rules.yaml]
receivers:
  - name: console
    console: true
route:
  receiver: console
store:
  path: state/monitor.db
web:
  enabled: false
log:
  level: warning
  format: json
"""


def write(folder: Path, url: str, per_hour: int) -> Path:
    (folder / "rules.yaml").write_text(RULES)
    path = folder / "config.yaml"
    path.write_text(CONFIG.format(url=url, token=TOKEN, per_hour=per_hour))
    return path


async def test_four_once_runs_share_one_hourly_budget(tmp_path: Path) -> None:
    async with tenant(quiet_spec(devices=30)) as (url, sim):
        config = load_config(write(tmp_path, url, per_hour=40))
        outcomes = []
        for _ in range(4):
            async with App(config, web_enabled=False) as app:
                results, _ = await app.run_once()
            outcomes.append(all(r.ok for r in results))
        # one sweep of 30 devices needs most of the 40; the later runs find the hour spent
        assert sim.requests.total <= 40
        assert sim.requests.total >= 30
        assert not all(outcomes)
    async with open_store(config.store) as store:
        spent = await store.budget_spent(f"kandji:{config.sources[0].url}", SystemClock().now())
    assert sim.requests.total <= spent <= 40


async def test_a_source_down_across_a_restart_keeps_its_unhealthy_alert_firing(
    tmp_path: Path,
) -> None:
    config = load_config(write(tmp_path, f"http://127.0.0.1:{free_port()}", per_hour=1000))
    clock = FakeClock(T0)
    async with App(config, clock=clock, web_enabled=False) as app:
        for _ in range(4):
            stats = await app.sweep_source("acme")
            assert not stats.ok
            clock.advance(timedelta(minutes=3))
    async with open_store(config.store) as store:
        [unhealthy] = [a for a in (await store.load_alerts()).values()
                       if a.rule_id == SOURCE_UNHEALTHY_RULE]
        assert unhealthy.state is AlertState.FIRING
    # a new process: the first sweep fails again; the alert stays firing, never resolved
    clock = FakeClock(T0 + timedelta(minutes=20))
    async with App(config, clock=clock, web_enabled=False) as app:
        stats = await app.sweep_source("acme")
        assert not stats.ok
    async with open_store(config.store) as store:
        [unhealthy] = [a for a in (await store.load_alerts()).values()
                       if a.rule_id == SOURCE_UNHEALTHY_RULE]
        assert unhealthy.state is AlertState.FIRING
        history = await store.alert_history(fingerprint=unhealthy.fingerprint)
        assert AlertState.RESOLVED not in {h.transition.current for h in history}


async def test_a_restarted_daemon_sweeps_from_the_memory_it_stored(tmp_path: Path) -> None:
    """The planned sweep's memory (which per-device reads are still fresh) is kept in
    the store: after a restart the first sweep makes the per-device reads a warm sweep
    makes, not a cold one's read of the whole fleet (blueprints are listed once more:
    the new process has no audit feed position yet)."""
    async with tenant(quiet_spec(devices=60)) as (url, sim):

        def device_reads() -> int:
            return sim.requests.total - sim.requests.count(BLUEPRINTS) - sim.requests.count(
                BLUEPRINT_LIBRARY_ITEMS)

        path = write(tmp_path, url, per_hour=100_000)
        path.write_text(path.read_text().replace("strategy: per_device", "strategy: planned"))
        config = load_config(path)
        spent = []
        async with App(config, web_enabled=False) as app:
            for _ in range(2):
                before = device_reads()
                assert (await app.sweep_source("acme")).ok
                spent.append(device_reads() - before)
        async with App(config, web_enabled=False) as app:
            before = device_reads()
            assert (await app.sweep_source("acme")).ok
            spent.append(device_reads() - before)
    cold, warm, restarted = spent
    assert warm < cold
    assert restarted == warm
