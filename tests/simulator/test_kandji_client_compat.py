"""The monitor's own Kandji client reads every simulated endpoint without complaint."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr

from monitor.clock import FakeClock
from monitor.config import BudgetConfig
from monitor.errors import ClientRequestError
from monitor.sources.kandji.client import KandjiClient
from monitor.sources.kandji.config import KandjiSourceConfig
from monitor.sources.kandji.mapping import (
    library_item_status_row_subject,
    library_item_subject,
    parameter_subject,
    to_device,
)
from tests.simulator.conftest import TOKEN, StartSim


async def test_the_kandji_client_parses_every_simulated_endpoint(
    start_sim: StartSim, clock: FakeClock
) -> None:
    base, sim = await start_sim(devices=350)
    config = KandjiSourceConfig(
        name="sim",
        kind="kandji",
        url=base,
        token=SecretStr(TOKEN),
        timeout=timedelta(seconds=10),
        budget=BudgetConfig(requests_per_hour=100_000, burst_per_second=1000, concurrency=4),
    )
    async with KandjiClient(config, clock=clock) as client:
        devices = await client.list_devices()
        assert len(devices) == 350
        assert len({d.device_id for d in devices}) == 350
        for platform in ("Mac", "iPhone", "iPad", "AppleTV"):
            record = next(d for d in devices if d.platform == platform)
            details = await client.get_device_details(record.device_id)
            device = to_device("sim", record, details)
            assert device.name == record.device_name
            items = await client.get_device_library_items(record.device_id)
            assert [library_item_subject(r).status for r in items.library_items]
            status = await client.get_device_status(record.device_id)
            params = [parameter_subject(p) for p in status.parameters]
            assert bool(params) == (platform == "Mac")
            await client.get_device_apps(record.device_id)
            activity = await client.get_device_activity(record.device_id, limit=3)
            assert (activity.activity.count or 0) > 3
        blueprints = await client.list_blueprints()
        assert len(blueprints) == len(sim.fleet.blueprints)
        refs = await client.list_blueprint_library_items(blueprints[0].id)
        rows = await client.get_library_item_status(refs[0].id)
        item = sim.fleet.item(refs[0].id)
        assert item is not None
        assert len(rows) == len(sim.fleet.item_scope(item))
        subjects = [
            library_item_status_row_subject(row, item_id=item.id, item_name=item.name)
            for row in rows
        ]
        assert {s.status for s in subjects} <= {
            "PASS",
            "ERROR",
            "INCOMPATIBLE",
            "PENDING",
            "EXCLUDED",
            "AVAILABLE",
            "CACHED",
            "DOWNLOADING",
            "INSTALLING",
            "success",
            "pending",
            "failed",
        }
        mac = next(d for d in devices if d.platform == "Mac")
        updated = await client.update_device(mac.device_id, {"tags": ["audited"]})
        assert updated.tags == ["audited"]
        with pytest.raises(ClientRequestError) as refused:
            await client.get_lost_mode_details(mac.device_id)
        assert refused.value.status == 400
