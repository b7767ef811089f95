"""The daemon under every fault the simulator can inject.

For each fault: alerts fire first; then the simulator repairs every failing item while
the fault keeps some devices' data from the daemon. The daemon must keep running, say
so in one log line, count it in its metrics, resolve exactly the alerts of devices whose
data it saw (never one it did not see), raise the source-health alert through the
notification pipeline when the source stays unhealthy past ``unhealthy_after``, and
resolve it, and the held alerts, once the source recovers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
from pydantic import SecretStr

from monitor.health import SOURCE_UNHEALTHY_RULE
from monitor.models import AlertState
from tests.faults.rig import ITEM_RULE, SOURCE, Rig, open_rig, states


@dataclass(frozen=True)
class Case:
    """One fault and what the daemon should make of it."""

    kind: str
    error: str  # a piece of the "source failing" line
    statuses: tuple[str, ...]  # api_requests_total status labels that must be counted
    key: str | None = None
    on_list: bool = False  # fault the device list rather than some devices' /status
    page_size: int = 300
    timeout: str = "2s"
    delay: float = 0.0

    @property
    def id(self) -> str:
        return self.kind + (f"={self.key}" if self.key else "") + ("@list" if self.on_list else "")


CASES = [
    Case("429", "answered 429", ("429",)),
    Case("429-bare", "answered 429", ("429",)),
    Case("500", "answered 500", ("500",)),
    Case("502", "answered 502", ("502",)),
    Case("503", "answered 503", ("503",)),
    Case("timeout", "timed out", ("timeout",), timeout="1s", delay=10.0),
    Case("reset", "connection lost", ("connection",)),
    Case("reset-body", "cut short", ("payload",)),
    Case("malformed", "not JSON", ("200",)),
    Case("garbled", "not JSON", ("200",)),
    Case("html-200", "not JSON (text/html)", ("200",)),
    Case("html", "which the tenant still has", ("404",)),
    Case("field-missing", "status: missing", ("200",), key="status"),
    Case("field-missing", "item_id: missing", ("200",), key="item_id"),
    Case("null-object", "library_items: NoneType", ("200",), key="library_items"),
    Case("null-object", "not an object", ("200",)),
    Case("field-missing", "mdm_enabled: missing", ("200",), key="mdm_enabled", on_list=True),
    Case("503", "answered 503", ("503",), on_list=True),
    Case("shift", "changed while it was read", ("200",), on_list=True, page_size=5),
]


def requests_with_status(rig: Rig, status: str) -> float:
    """api_requests_total summed over endpoints, for one status label."""
    total = 0.0
    for family in rig.app.metrics.registry.collect():
        for sample in family.samples:
            if (
                sample.name == "compliance_monitor_api_requests_total"
                and sample.labels.get("status") == status
                and sample.labels.get("source") == SOURCE
            ):
                total += sample.value
    return total


def events(logs: Sequence[Mapping[str, Any]], name: str) -> list[Mapping[str, Any]]:
    return [e for e in logs if e.get("event") == name and e.get("source", SOURCE) == SOURCE]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_fault_holds_unseen_alerts_and_raises_source_health(
    tmp_path: Path, case: Case
) -> None:
    async with open_rig(tmp_path, page_size=case.page_size, timeout=case.timeout) as rig:
        planted = rig.plant_errors(devices=10)
        assert len(planted) >= 6
        first = await rig.sweep()
        assert first.ok
        await rig.deliver()
        assert any(ITEM_RULE in t and "FIRING" in t for t in rig.hook.titles())
        before = await rig.alerts()
        assert all(states(before)[p] is AlertState.FIRING for p in planted)

        # The simulator repairs everything; the fault keeps half the devices (or the
        # whole list) from the daemon.
        rig.repair(planted)
        broken = {dev for dev, _ in planted[::2]}
        path = (
            "^/api/v1/devices$"
            if case.on_list
            else "^/api/v1/devices/(" + "|".join(sorted(broken)) + ")/status$"
        )
        rig.sim.add_fault(path, case.kind, key=case.key, delay=case.delay)

        with structlog.testing.capture_logs() as logs:
            faulted = await rig.sweep()
            seen = rig.seen_devices()
            after = await rig.alerts()

            # It kept running and reported the failure...
            assert not faulted.ok
            failing = events(logs, "source failing")
            assert len(failing) == 1, "failure is logged once"
            assert case.error in failing[0]["error"]
            assert rig.metric("sweeps_total", source=SOURCE, result="failed") == 1
            for status in case.statuses:
                assert requests_with_status(rig, status) > 0, status

            # ...resolved what it saw, and nothing it did not see.
            if case.on_list:
                assert seen == set()
            else:
                assert seen.isdisjoint(broken)
            now = states(after)
            for device, item in planted:
                expected = AlertState.RESOLVED if device in seen else AlertState.FIRING
                assert now[(device, item)] is expected, (device, device in broken)
            for fp, alert in after.items():
                if alert.state is AlertState.RESOLVED and before[fp].state is not alert.state:
                    assert alert.finding.device_id in seen, "resolved from missing data"
            live = rig.live_devices()
            gone = {a.finding.device_id for a in after.values() if a.rule_id.endswith(".gone")}
            assert gone.isdisjoint(live), "a device still in the tenant was called gone"

            # Still failing past unhealthy_after: the source-health alert fires.
            rig.clock.advance(11 * 60)
            await rig.sweep()
            health = [a for a in (await rig.alerts()).values()
                      if a.rule_id == SOURCE_UNHEALTHY_RULE]
            assert [a.state for a in health] == [AlertState.FIRING]
            assert case.error in health[0].finding.summary
            assert len(events(logs, "source failing")) == 1, "logged once, not every sweep"

            # Recovery: everything the daemon now sees resolves, the health alert too.
            rig.sim.faults.clear()
            recovered = await rig.sweep()
            assert recovered.ok
            assert len(events(logs, "source recovered")) == 1
        final = await rig.alerts()
        live = rig.live_devices()
        for device, item in planted:
            if device in live:
                assert states(final)[(device, item)] is AlertState.RESOLVED
        health = [a for a in final.values() if a.rule_id == SOURCE_UNHEALTHY_RULE]
        assert [a.state for a in health] == [AlertState.RESOLVED]


async def failing_then_recovering(rig: Rig) -> None:
    """Alerts fire; the source fails past unhealthy_after; then it recovers."""
    rig.plant_errors(devices=4)
    assert (await rig.sweep()).ok
    await rig.deliver()
    rig.sim.add_fault("/status$", "503")
    await rig.sweep()
    rig.clock.advance(11 * 60)
    await rig.sweep()
    await rig.deliver()


async def test_source_health_alert_reaches_the_receiver_and_so_does_its_recovery(
    tmp_path: Path,
) -> None:
    async with open_rig(tmp_path, device_gone=False) as rig:
        await failing_then_recovering(rig)
        firing = [t for t in rig.hook.titles() if SOURCE_UNHEALTHY_RULE in t]
        assert len(firing) == 1
        assert firing[0].startswith("[FIRING")
        assert "acme" in rig.hook.text()
        rig.sim.faults.clear()
        assert (await rig.sweep()).ok
        await rig.deliver()
        resolved = [t for t in rig.hook.titles() if SOURCE_UNHEALTHY_RULE in t][1:]
        assert len(resolved) == 1
        assert resolved[0].startswith("[RESOLVED")


async def test_source_health_alert_is_not_muted_by_a_gone_alert_on_no_device(
    tmp_path: Path,
) -> None:
    async with open_rig(tmp_path) as rig:  # inhibit.device_gone on, the default
        await failing_then_recovering(rig)
        gone = [a for a in (await rig.alerts()).values() if a.rule_id == "monitor.device.gone"]
        assert gone == []
        assert any(
            SOURCE_UNHEALTHY_RULE in t and t.startswith("[FIRING") for t in rig.hook.titles()
        )


async def test_a_list_that_shifts_once_mid_sweep_loses_nobody(tmp_path: Path) -> None:
    async with open_rig(tmp_path, page_size=5) as rig:
        planted = rig.plant_errors(devices=10)
        assert (await rig.sweep()).ok
        rig.repair(planted)
        # The third page of the list finds it shifted: one device removed from what was
        # already read, one enrolled.
        rig.sim.add_fault("^/api/v1/devices$", "shift", count=1, after=2)
        with structlog.testing.capture_logs() as logs:
            result = await rig.sweep()
        assert result.ok
        assert len([e for e in logs if e["event"] == "kandji.device_list_shifted"]) == 1
        live = rig.live_devices()
        after = await rig.alerts()
        assert result.devices == len(live), "every live device was listed, once"
        gone = {a.finding.device_id for a in after.values()
                if a.rule_id == "monitor.device.gone" and a.state is AlertState.FIRING}
        assert gone.isdisjoint(live)
        for device, item in planted:
            expected = AlertState.RESOLVED if device in live else AlertState.FIRING
            assert states(after)[(device, item)] is expected


async def test_slow_answers_are_waited_for_not_abandoned(tmp_path: Path) -> None:
    async with open_rig(tmp_path, timeout="2s") as rig:
        planted = rig.plant_errors(devices=4)
        assert (await rig.sweep()).ok
        rig.repair(planted)
        rig.sim.add_fault("/status$", "slow", delay=0.2, count=4)
        result = await rig.sweep()
        assert result.ok
        assert sum(1 for r in rig.sim.requests.records if r.fault == "slow") == 4
        now = states(await rig.alerts())
        assert all(now[p] is AlertState.RESOLVED for p in planted)


async def test_an_undocumented_status_keeps_the_daemon_running_and_is_logged_once(
    tmp_path: Path,
) -> None:
    async with open_rig(tmp_path) as rig:
        rig.plant_errors(devices=4)
        assert (await rig.sweep()).ok
        rig.sim.add_fault("/status$", "new-enum", key="status", value="QUARANTINED")
        with structlog.testing.capture_logs() as logs:
            first = await rig.sweep()
            second = await rig.sweep()
        assert first.ok
        assert second.ok
        undocumented = [e for e in logs if e["event"] == "kandji.undocumented_status"]
        assert [e["status"] for e in undocumented] == ["QUARANTINED"]
        assert rig.metric("sweeps_total", source=SOURCE, result="ok") == 3


async def test_an_item_that_moves_to_an_undocumented_status_is_held_not_resolved(
    tmp_path: Path,
) -> None:
    async with open_rig(tmp_path) as rig:
        planted = rig.plant_errors(devices=4)
        assert (await rig.sweep()).ok
        pattern = "^/api/v1/devices/(" + "|".join(d for d, _ in planted) + ")/status$"
        rig.sim.add_fault(pattern, "new-enum", key="status", value="QUARANTINED")
        await rig.sweep()
        now = states(await rig.alerts())
        assert all(now[p] is AlertState.FIRING for p in planted)


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        ("field-missing", "status"),
        ("null-object", None),
        ("garbled", None),
        ("html", None),
    ],
)
async def test_planned_sweep_resolves_nothing_from_item_pages_it_could_not_read(
    tmp_path: Path, kind: str, key: str | None
) -> None:
    # Enough devices that the planned sweep reads library items fleet-wide, per item.
    async with open_rig(tmp_path, devices=300, strategy="planned") as rig:
        planted = rig.plant_errors(devices=8)
        assert (await rig.sweep()).ok
        await rig.sweep()  # the steady state: probes done, the plan settled
        assert rig.sim.requests.count("/api/v1/library/library-items/{library_item_id}/status")
        rig.repair(planted)
        rig.sim.add_fault("^/api/v1/library/library-items/[^/]+/status$", kind, key=key)
        result = await rig.sweep()
        assert not result.ok
        now = states(await rig.alerts())
        assert all(now[p] is AlertState.FIRING for p in planted), "resolved from missing data"
        rig.sim.faults.clear()
        assert (await rig.sweep()).ok
        now = states(await rig.alerts())
        assert all(now[p] is AlertState.RESOLVED for p in planted)


async def test_a_refused_token_raises_the_source_alert_at_once_and_holds_device_alerts(
    tmp_path: Path,
) -> None:
    async with open_rig(tmp_path) as rig:
        planted = rig.plant_errors(devices=3)
        assert (await rig.sweep()).ok
        rig.sim.token = SecretStr("a-rotated-token")  # the tenant revoked ours
        rig.repair(planted)
        with structlog.testing.capture_logs() as logs:
            result = await rig.sweep()
        assert not result.ok
        assert [e["event"] for e in logs if e["event"].startswith("source ")] == [
            "source refuses the token"
        ]
        after = await rig.alerts()
        source = [a for a in after.values() if a.rule_id == SOURCE_UNHEALTHY_RULE]
        assert [a.state for a in source] == [AlertState.FIRING], "no unhealthy_after wait"
        assert "token is refused" in source[0].finding.summary
        assert all(states(after)[p] is AlertState.FIRING for p in planted), "held, not resolved"
