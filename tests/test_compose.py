"""compose.yaml: its monitor config is valid, and both instances share one PostgreSQL
store under their own names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from monitor.config import load_config
from monitor.store import store_name

COMPOSE = Path(__file__).parent.parent / "compose.yaml"


def test_the_compose_config_loads_for_each_instance(tmp_path: Path) -> None:
    compose: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    # compose turns $$ into $, leaving ${...} for the monitor's own substitution
    content = compose["configs"]["monitor-config"]["content"].replace("$$", "$")
    config_file = tmp_path / "ha.yaml"
    config_file.write_text(content)
    stores = set()
    for service in ("monitor-1", "monitor-2"):
        env = {k: str(v) for k, v in compose["services"][service]["environment"].items()}
        env |= {"PGPASSWORD": "pw-" + "x" * 30, "MONITOR_WEB_TOKEN": "t" * 40,
                "KANDJI_URL": "http://kandji-sim:8081", "KANDJI_TOKEN": "sim-token"}
        config = load_config(config_file, env=env)
        assert config.store.instance == service
        assert not config.store.is_sqlite
        stores.add(store_name(config.store))
    assert stores == {"postgresql://monitor:***@postgres:5432/monitor"}
