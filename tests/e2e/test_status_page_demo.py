"""The status page of a running demo, in headless Chromium: firing, silenced, resolved.

A silence is added the way ``compliance-monitor silence add`` adds one (into the store
of the running daemon); a failing item is repaired in the simulator. The page must show
the firing alerts, the silenced device apart, the resolved item and the silence. The
screenshots land in ``test-output/`` for a human to look at.
"""

from __future__ import annotations

import html
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.models import Alert, AlertState
from monitor.store import open_store
from monitor.store.base import Matcher, SilenceDraft
from tests.browser import OUTPUT, needs_chromium, png_size, run_chromium
from tests.e2e.demo_support import running_demo

pytestmark = [pytest.mark.slow, needs_chromium]

ITEM_RULE = "kandji.library-item.error"


def section(dom: str, name: str) -> str:
    """The HTML of ``<section id="name">``."""
    assert f'<section id="{name}"' in dom, f"no {name} section"
    return dom.split(f'<section id="{name}"', 1)[1].split("</section>", 1)[0]


def by_device(alerts: list[Alert]) -> dict[str, list[Alert]]:
    out: dict[str, list[Alert]] = {}
    for a in alerts:
        out.setdefault(a.finding.device_id, []).append(a)
    return out


async def test_a_running_demo_shows_firing_silenced_and_resolved_alerts_in_chromium(
    tmp_path: Path,
) -> None:
    async with running_demo(tmp_path / "state") as demo:
        now = demo.app.clock.now()
        firing = sorted(
            (a for a in (await demo.app.status.stored_alerts()).values()
             if a.state is AlertState.FIRING and a.rule_id == ITEM_RULE),
            key=lambda a: (a.finding.device_name, a.finding.subject_name),
        )
        devices = list(by_device(firing).values())
        assert len(devices) >= 3, "the demo fleet has failing items on several devices"
        silenced, repaired, still = devices[0], devices[1], devices[2]

        # An operator silences one device for its reimaging...
        serial = silenced[0].finding.device_serial
        # (through the store, as `silence add` does beside the running daemon)
        async with open_store(demo.config.store) as store:
            await store.add_silence(
                SilenceDraft(
                    (Matcher("device_serial", "=", serial),),
                    starts_at=now - timedelta(minutes=1),
                    ends_at=now + timedelta(hours=2),
                    comment="Reimaging after the disk swap",
                    author="ops@example.com",
                    created_at=now,
                ),
            )
        # ...and another device's items get fixed in Kandji.
        for a in repaired:
            demo.kandji.fleet.set_item_status(a.finding.device_id, a.finding.subject_id, "PASS")
        await demo.sweep_again()

        dom = html.unescape(
            (await run_chromium(tmp_path / "dom", "--dump-dom", demo.url + "/")).decode()
        )

        OUTPUT.mkdir(exist_ok=True)
        shots = {"demo-status-page.png": "1400,1000", "demo-status-page-full.png": "1400,3200"}
        for name, size in shots.items():
            path = OUTPUT / name
            path.unlink(missing_ok=True)
            await run_chromium(
                tmp_path / name, f"--screenshot={path}", f"--window-size={size}", demo.url + "/"
            )
            assert png_size(path) == tuple(int(n) for n in size.split(","))
            assert path.stat().st_size > 20_000  # a blank page compresses to far less

    head = dom.split("<main>", 1)[0]
    assert "firing on" in head  # the header says the fleet is not all clear

    fired = section(dom, "firing")
    assert ITEM_RULE in fired
    f = still[0].finding
    assert f.device_name in fired
    assert f.device_serial in fired
    assert f.subject_name in fired
    assert serial not in fired  # the silenced device is not listed as firing
    for a in repaired:
        assert f"alert-{a.fingerprint}" not in fired

    muted = section(dom, "silenced")
    assert silenced[0].finding.device_name in muted
    assert serial in muted

    resolved = section(dom, "resolved")
    for a in repaired:
        assert f"alert-{a.fingerprint}" in resolved
    assert repaired[0].finding.device_name in resolved

    silences = section(dom, "silences")
    assert f'device_serial="{serial}"' in silences
    assert "Reimaging after the disk swap" in silences
    assert "ops@example.com" in silences

    sources = section(dom, "sources")
    assert "demo-kandji" in sources
    assert "demo-applivery" in sources
    assert "source unhealthy" not in sources  # every source swept successfully
