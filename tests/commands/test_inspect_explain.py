"""``compliance-monitor explain DEVICE`` against simulated tenants on loopback."""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from monitor.app import App
from monitor.commands.inspect import (
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CommandIo,
    Terminal,
    explain_device,
)
from monitor.commands.inspect.terminal import display_width
from monitor.config import Config
from monitor.models import Alert, AlertState
from monitor.simulator.applivery import start_applivery
from monitor.simulator.kandji import KandjiSimulator, start_kandji
from monitor.store import open_store
from tests.servers import free_port

TOKEN = "explain-test-token"
ANSI = re.compile(r"\x1b\[")


@dataclass
class Tenant:
    """A simulated Kandji tenant and a config whose store already holds one sweep of it."""

    url: str
    sim: KandjiSimulator
    config: Config
    store_path: Path


def kandji_config(
    tmp_path: Path, urls: dict[str, str], *, store: Path | None = None, **extra: Any
) -> Config:
    """A config with one Kandji source per ``name -> url`` (single attempt, no retries)."""
    return Config.model_validate(
        {
            "sources": [
                {"name": name, "kind": "kandji", "url": url, "token": TOKEN,
                 "retry": {"max_attempts": 1}, "timeout": "10s",
                 "budget": {"burst_per_second": 1000, "concurrency": 16}}
                for name, url in urls.items()
            ],
            "receivers": [{"name": "ops", "console": True}],
            "route": {"receiver": "ops"},
            "store": {"path": str(store or tmp_path / "monitor.db")},
            "web": {"enabled": False},
            **extra,
        }
    )


@pytest.fixture
async def tenant(tmp_path: Path) -> AsyncIterator[Tenant]:
    runner, url, sim = await start_kandji(
        devices=30, seed=11, token=TOKEN, per_second=None, per_hour=None
    )
    config = kandji_config(tmp_path, {"macs": url})
    # One real sweep by the daemon, so the store holds alerts and their history (the
    # notifications go to a console receiver writing into a buffer).
    async with App(config, web_enabled=False, console=io.StringIO()) as app:
        await app.run_once()
    try:
        yield Tenant(url, sim, config, tmp_path / "monitor.db")
    finally:
        await runner.cleanup()


async def firing_item_alert(path: Path) -> Alert:
    """A firing library-item alert from the store (the simulated fleet always has some)."""
    async with open_store(path) as store:
        alerts = await store.load_alerts(None)
    firing = sorted(
        (
            a
            for a in alerts.values()
            if a.state is AlertState.FIRING and a.rule_id == "kandji.library-item.error"
        ),
        key=lambda a: a.fingerprint,
    )
    assert firing, "the simulated fleet should have failing library items"
    return firing[0]


async def run_explain(
    config: Config, query: str, *, source: str | None = None, as_json: bool = False,
    width: int = 80,
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await explain_device(
        config,
        query,
        source=source,
        as_json=as_json,
        io=CommandIo(out, err, Terminal(width=width, color=False)),
    )
    return code, out.getvalue(), err.getvalue()


async def test_a_device_found_by_serial_shows_the_rule_that_fires_and_why(tenant: Tenant) -> None:
    alert = await firing_item_alert(tenant.store_path)
    f = alert.finding

    code, out, err = await run_explain(tenant.config, f.device_serial, as_json=True)

    assert code == EXIT_OK, err
    doc = json.loads(out)
    assert doc["version"] == 1
    assert doc["found"] is True
    assert doc["source"] == "macs"
    assert doc["device"]["device_id"] == f.device_id
    assert doc["device"]["serial"] == f.device_serial
    assert "library_items" in doc["fetched"]
    rule = next(r for r in doc["rules"] if r["rule_id"] == f.rule_id)
    assert rule["verdict"] == "match"
    matched = [s for s in rule["subjects"] if s["verdict"] == "match"]
    assert f.subject_id in {s["subject_id"] for s in matched}
    item = next(s for s in doc["subjects"]["library_item"] if s["id"] == f.subject_id)
    assert item["status"] == f.subject_status
    # Store: the alert and its first transition.
    assert alert.fingerprint in {a["fingerprint"] for a in doc["alerts"]}
    changes = [h for h in doc["history"] if h["fingerprint"] == alert.fingerprint]
    assert changes[-1]["previous"] is None
    assert changes[-1]["current"] == "firing"
    # Kandji activity: the newest entries, newest first.
    times = [a["at"] for a in doc["activity"]]
    assert 0 < len(times) <= 10
    assert times == sorted(times, reverse=True)


async def test_id_serial_and_name_find_the_same_device_whatever_the_case(tenant: Tenant) -> None:
    f = (await firing_item_alert(tenant.store_path)).finding
    ids = set()
    for query in (f.device_id, f.device_serial.lower(), f.device_name.upper()):
        code, out, err = await run_explain(tenant.config, query, as_json=True)
        assert code == EXIT_OK, err
        ids.add(json.loads(out)["device"]["device_id"])
    assert ids == {f.device_id}


async def test_the_human_report_has_every_section_and_fits_80_columns(tenant: Tenant) -> None:
    alert = await firing_item_alert(tenant.store_path)
    f = alert.finding

    code, out, _ = await run_explain(tenant.config, f.device_serial)

    assert code == EXIT_OK
    assert not ANSI.search(out)
    assert all(display_width(line) <= 80 for line in out.splitlines())
    lines = out.splitlines()
    assert lines[0] == f.device_name
    for heading in ("Facts", "Library items", "Rules", "Alerts on this device", "History",
                    "Recent activity"):
        assert any(line.startswith(heading) for line in lines), heading
    rule_line = next(line for line in lines if f" {f.rule_id} " in line)
    assert rule_line.split()[0] == "MATCH"
    assert any(f.summary in line for line in lines)


async def test_an_unknown_device_lists_close_matches_and_exits_1(tenant: Tenant) -> None:
    f = (await firing_item_alert(tenant.store_path)).finding
    typo = f.device_name[:-1]  # one letter short

    code, out, err = await run_explain(tenant.config, typo)
    assert code == EXIT_NOT_FOUND
    assert out == ""
    assert "close matches" in err
    assert f.device_serial in err

    code, out, _ = await run_explain(tenant.config, "no-such-device-zzzz", as_json=True)
    assert code == EXIT_NOT_FOUND
    doc = json.loads(out)
    assert doc["found"] is False
    assert doc["error"] == "not_found"


async def test_a_name_in_two_sources_is_ambiguous_until_source_is_given(
    tenant: Tenant, tmp_path: Path
) -> None:
    f = (await firing_item_alert(tenant.store_path)).finding
    both = kandji_config(
        tmp_path, {"macs": tenant.url, "macs-eu": tenant.url}, store=tenant.store_path
    )

    code, _, err = await run_explain(both, f.device_name)
    assert code == EXIT_NOT_FOUND
    assert "give an id or a serial" in err
    assert "macs-eu" in err

    code, out, _ = await run_explain(both, f.device_name, source="macs", as_json=True)
    assert code == EXIT_OK
    assert json.loads(out)["source"] == "macs"


async def test_an_unknown_source_name_is_a_usage_error(tenant: Tenant) -> None:
    code, _, err = await run_explain(tenant.config, "anything", source="nope")
    assert code == EXIT_USAGE
    assert "macs" in err


async def test_an_unreachable_source_exits_3(tmp_path: Path) -> None:
    config = kandji_config(tmp_path, {"macs": f"http://127.0.0.1:{free_port()}"})

    code, out, err = await run_explain(config, "C02XL0AAJGH5")
    assert code == EXIT_UNREACHABLE
    assert out == ""
    assert "cannot reach source macs" in err
    assert TOKEN not in err

    code, out, _ = await run_explain(config, "C02XL0AAJGH5", as_json=True)
    assert code == EXIT_UNREACHABLE
    assert json.loads(out)["error"] == "unreachable"


async def test_facts_that_cannot_be_fetched_are_reported_and_exit_3(tenant: Tenant) -> None:
    f = (await firing_item_alert(tenant.store_path)).finding
    tenant.sim.add_fault(r".*/status$", "500")

    code, out, _ = await run_explain(tenant.config, f.device_serial, as_json=True)

    assert code == EXIT_UNREACHABLE
    doc = json.loads(out)
    assert doc["device"]["serial"] == f.device_serial  # what could be fetched is shown
    assert any("could not fetch" in w for w in doc["warnings"])
    rule = next(r for r in doc["rules"] if r["rule_id"] == f.rule_id)
    assert rule["verdict"] == "no_facts"


async def test_without_a_store_the_history_is_skipped_and_no_file_is_created(
    tenant: Tenant, tmp_path: Path
) -> None:
    f = (await firing_item_alert(tenant.store_path)).finding
    fresh = kandji_config(tmp_path, {"macs": tenant.url}, store=tmp_path / "none" / "m.db")

    code, out, _ = await run_explain(fresh, f.device_serial, as_json=True)

    assert code == EXIT_OK
    doc = json.loads(out)
    assert doc["alerts"] is None
    assert doc["history"] is None
    assert "no store" in doc["store_note"]
    assert not (tmp_path / "none").exists()


async def test_an_applivery_device_is_explained_from_the_device_list(tmp_path: Path) -> None:
    runner, url, sim = await start_applivery(devices=12, seed=5, token=TOKEN)
    try:
        config = Config.model_validate(
            {
                "sources": [
                    {"name": "pcs", "kind": "applivery", "url": url, "token": TOKEN,
                     "organization": sim.fleet.organization, "retry": {"max_attempts": 1}}
                ],
                "receivers": [{"name": "ops", "console": True}],
                "route": {"receiver": "ops"},
                "store": {"path": str(tmp_path / "monitor.db")},
                "web": {"enabled": False},
            }
        )
        device = sim.fleet.devices[0]
        code, out, err = await run_explain(config, device.id, as_json=True)
    finally:
        await runner.cleanup()

    assert code == EXIT_OK, err
    doc = json.loads(out)
    assert doc["source_kind"] == "applivery"
    assert doc["device"]["device_id"] == device.id
    assert "compliance" in doc["device"]
    assert doc["activity"] is None
    verdicts = {r["rule_id"]: r["verdict"] for r in doc["rules"]}
    assert verdicts["kandji.library-item.error"] == "not_applicable"
    assert any(r.startswith("applivery.") and v != "not_applicable" for r, v in verdicts.items())
