"""The one factory: which URL opens which backend, the config's ``store:`` forms, and a
password that never shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.errors import ConfigError, StoreError
from monitor.store import open_store, store_name, store_url
from tests.servers import free_port
from tests.store.helpers import MINIMAL_CONFIG


def config_with(tmp_path: Path, store: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(MINIMAL_CONFIG + store)
    return path


@pytest.mark.parametrize(
    ("target", "driver", "database"),
    [
        ("sqlite:///state/m.db", "sqlite+aiosqlite", "state/m.db"),
        ("sqlite:////var/lib/m.db", "sqlite+aiosqlite", "/var/lib/m.db"),
        ("state/m.db", "sqlite+aiosqlite", "state/m.db"),
        ("postgresql://mon@db:5432/monitor", "postgresql+asyncpg", "monitor"),
        ("postgres://mon@db/monitor", "postgresql+asyncpg", "monitor"),
        ("postgresql+asyncpg://mon@db/monitor", "postgresql+asyncpg", "monitor"),
    ],
)
def test_the_url_picks_the_backend(target: str, driver: str, database: str) -> None:
    url, _ = store_url(target)
    assert (url.drivername, url.database) == (driver, database)


def test_an_unknown_scheme_is_refused() -> None:
    with pytest.raises(StoreError, match="not sqlite or postgresql"):
        store_url("mysql://u@h/db")


def test_the_legacy_path_and_a_relative_sqlite_url_are_relative_to_the_config(
    tmp_path: Path,
) -> None:
    legacy = load_config(config_with(tmp_path, "store:\n  path: data/old.db\n"))
    assert legacy.store.path == tmp_path / "data/old.db"
    assert store_name(legacy.store) == f"sqlite:///{tmp_path}/data/old.db"
    short = load_config(config_with(tmp_path, "store: sqlite:///data/new.db\n"))
    assert short.store.path == tmp_path / "data/new.db"
    default = load_config(config_with(tmp_path, ""))
    assert default.store.path == tmp_path / "state/monitor.db"
    assert default.store.is_sqlite


def test_a_postgresql_password_from_env_or_file_never_shows(tmp_path: Path) -> None:
    inline = load_config(
        config_with(tmp_path, "store: postgresql://mon:${PGPW}@db/monitor\n"),
        env={"PGPW": "s3cret-inline"},
    )
    assert inline.store.path is None
    assert "s3cret-inline" not in repr(inline)
    url, shown = store_url(inline.store)
    assert url.password == "s3cret-inline"
    assert "s3cret-inline" not in shown
    assert "s3cret-inline" not in repr(open_store(inline.store))

    (tmp_path / "pg.pw").write_text("s3cret-file\n")
    from_file = load_config(
        config_with(tmp_path, "store:\n  url: postgresql://mon@db/monitor\n"
                              "  password_file: pg.pw\n")
    )
    url, shown = store_url(from_file.store)
    assert url.password == "s3cret-file"
    assert shown == "postgresql://mon:***@db/monitor"

    from_env = load_config(
        config_with(tmp_path, "store:\n  url: postgresql://mon@db/monitor\n"
                              "  password: ${PGPW}\n"),
        env={"PGPW": "s3cret-env"},
    )
    assert store_url(from_env.store)[0].password == "s3cret-env"
    assert "s3cret-env" not in repr(from_env)


@pytest.mark.parametrize(
    "store",
    [
        "store: mysql://u@h/db\n",
        "store:\n  url: sqlite:///a.db\n  path: b.db\n",
        "store:\n  url: postgresql://u@h/db\n  password: a\n  password_file: b\n",
        "store:\n  lease_ttl: 1s\n",
    ],
)
def test_invalid_store_sections_are_config_errors(tmp_path: Path, store: str) -> None:
    with pytest.raises(ConfigError, match="store"):
        load_config(config_with(tmp_path, store))


async def test_an_unreachable_server_is_one_line_naming_the_store_not_the_password() -> None:
    store = open_store(f"postgresql://mon:hunter22@127.0.0.1:{free_port()}/monitor")
    with pytest.raises(StoreError) as caught:
        await store.open()
    message = str(caught.value)
    assert message.startswith("cannot open the store at postgresql://mon:***@127.0.0.1:")
    assert "hunter22" not in message
    assert "\n" not in message
