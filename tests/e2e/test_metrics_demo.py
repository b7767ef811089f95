"""/metrics during a running demo agrees with what the simulator and the store counted."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from monitor.metrics import count_alerts
from monitor.models import AlertState
from tests.e2e.demo_support import RunningDemo, running_demo

pytestmark = pytest.mark.slow

P = "compliance_monitor_"
SOURCE = "demo-kandji"
WINDOWS = "demo-applivery"
HELD_RULE = "demo.item.held"

Labels = frozenset[tuple[str, str]]
Samples = dict[str, dict[Labels, float]]


#: Holds failing custom scripts pending for an hour: they never fire during the test, and
#: once repaired their alerts are deleted rather than resolved (pending was never announced).
HELD_RULES = f"""\
version: 1
rules:
  - id: {HELD_RULE}
    source: kandji
    subject: library_item
    match:
      type: custom-script
      status: ERROR
    for: 1h
    severity: info
    summary: "{{{{ subject.name }}}} has been failing on {{{{ device.name }}}}"
"""


async def scrape(demo: RunningDemo) -> Samples:
    """Every sample of /metrics, by sample name then label set."""
    async with aiohttp.ClientSession() as http, http.get(demo.url + "/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, {})[frozenset(s.labels.items())] = s.value
    return samples


def total(series: Mapping[Labels, float], **match: str) -> float:
    """The sum of the series whose labels include ``match``."""
    wanted = set(match.items())
    return sum(v for labels, v in series.items() if wanted <= labels)


async def assert_consistent(demo: RunningDemo, sweeps_logged: int) -> Samples:
    """Between two sweeps: requests, sweeps and alert counts agree with their sources."""
    m = await scrape(demo)
    # Every request a simulator served was counted once, under its source, whatever
    # its endpoint.
    for source, sim in ((SOURCE, demo.kandji), (WINDOWS, demo.applivery)):
        assert total(m[P + "api_requests_total"], source=source) == sim.requests.total > 0
        # One sweep counted per sweep logged, all of them ok.
        assert total(m[P + "sweeps_total"], source=source, result="ok") == sweeps_logged
        assert total(m[P + "sweeps_total"], source=source, result="failed") == 0
        assert total(m[P + "sweep_duration_seconds_count"], source=source) == sweeps_logged
    # The alerts gauge is the store, series by series.
    stored = await demo.app.status.stored_alerts()
    expected = {
        frozenset({("rule_id", k.rule_id), ("severity", k.severity), ("state", k.state),
                   ("source", k.source)}): float(n)
        for k, n in count_alerts(stored.values()).items()
    }
    assert m[P + "alerts"] == expected
    firing = sum(1 for a in stored.values() if a.state is AlertState.FIRING)
    assert total(m[P + "alerts"], state="firing") == firing
    assert m[P + "state_up"] == {frozenset(): 1.0}
    return m


async def test_metrics_match_the_simulator_and_the_store_and_deleted_alerts_leave(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "held.yaml"
    rules.write_text(HELD_RULES)
    with capture_logs() as logs:
        async with running_demo(
            tmp_path / "state", interval=timedelta(milliseconds=200), rule_files=[rules]
        ) as demo:

            def sweeps_logged() -> int:
                kandji = sum(1 for e in logs if e["event"] == "sweep" and e["source"] == SOURCE)
                windows = sum(1 for e in logs if e["event"] == "sweep" and e["source"] == WINDOWS)
                assert kandji == windows
                return kandji

            m = await assert_consistent(demo, sweeps_logged())
            assert sweeps_logged() == 1
            held = [
                a for a in (await demo.app.status.stored_alerts()).values()
                if a.rule_id == HELD_RULE
            ]
            assert held, "the demo fleet has failing custom scripts"
            assert total(m[P + "alerts"], rule_id=HELD_RULE, state="pending") == len(held)
            firing_items = total(m[P + "alerts"], rule_id="kandji.library-item.error",
                                 state="firing")
            assert firing_items >= len(held)

            # The scripts are repaired: their pending alerts stop matching and are deleted
            # (never announced), their firing item alerts resolve.
            for a in held:
                demo.kandji.fleet.set_item_status(
                    a.finding.device_id, a.finding.subject_id, "PASS"
                )
            await demo.sweep_again()
            m = await assert_consistent(demo, sweeps_logged())
            assert sweeps_logged() == 2
            stored = await demo.app.status.stored_alerts()
            assert not any(a.rule_id == HELD_RULE for a in stored.values())
            assert not any(("rule_id", HELD_RULE) in labels for labels in m[P + "alerts"])
            assert total(m[P + "alerts"], rule_id="kandji.library-item.error",
                         state="resolved") == len(held)
            assert total(m[P + "alerts"], rule_id="kandji.library-item.error",
                         state="firing") == firing_items - len(held)

            # One more sweep: the request counter moves by exactly that sweep's requests.
            before = demo.kandji.requests.total
            result = await demo.sweep_again()
            await assert_consistent(demo, sweeps_logged())
            assert sweeps_logged() == 3
            assert demo.kandji.requests.total - before == result[SOURCE].requests > 0
