"""Where state is kept: an SQLite file (the embedded default) or a PostgreSQL database
shared by several instances, with the password beside the URL and the lease settings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator

from monitor.errors import ConfigError
from monitor.settings import Duration, Strict

_STORE_SCHEMES = ("sqlite", "postgresql", "postgres")


class StoreConfig(Strict):
    """Where state is kept: a URL, ``sqlite:///state/monitor.db`` (the default, a file
    relative to the config file; ``sqlite:////abs/path.db`` for an absolute one) or
    ``postgresql://user@host:5432/dbname`` for several instances sharing one database.

    ``store: URL`` is short for ``store: {url: URL}``; the older ``store: {path: FILE}``
    still means an SQLite file. The PostgreSQL password goes in ``password`` (from
    ``${ENV}``) or ``password_file``, or inside the URL; it is redacted everywhere.
    After loading, ``path`` is the SQLite file (None on PostgreSQL).

    ``lease_ttl``: how long an instance's claim on a source lasts without renewal; a
    dead instance's sources are taken over after at most this long. ``instance``: this
    process's name in leases and claims (default: host name and process id); names
    must differ between live instances, and an instance restarted under its old name
    takes its leases back at once.
    """

    url: SecretStr | None = None
    path: Path | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    lease_ttl: Duration = timedelta(seconds=30)
    instance: str | None = Field(default=None, min_length=1, max_length=128)

    @model_validator(mode="before")
    @classmethod
    def _url_shorthand(cls, data: Any) -> Any:
        return {"url": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one_location(self) -> StoreConfig:
        if self.url is not None and self.path is not None:
            raise ValueError("give url or path, not both")
        if self.url is not None:
            scheme = self.url.get_secret_value().partition("://")[0].split("+")[0].lower()
            if scheme not in _STORE_SCHEMES:
                raise ValueError("the url must start with sqlite://, postgresql:// or postgres://")
        if self.password is not None and self.password_file is not None:
            raise ValueError("give password or password_file, not both")
        if self.lease_ttl < timedelta(seconds=2):
            raise ValueError("lease_ttl must be at least 2s")
        return self

    @property
    def is_sqlite(self) -> bool:
        """Whether the store is an SQLite file (the embedded default)."""
        if self.url is None:
            return True
        return self.url.get_secret_value().lower().startswith("sqlite")

    def sqlite_file(self) -> Path | None:
        """The SQLite file this config names (None for PostgreSQL or ``:memory:``)."""
        if self.url is None:
            return self.path if self.path is not None else Path("state/monitor.db")
        if not self.is_sqlite:
            return None
        rest = self.url.get_secret_value().partition("://")[2]
        file = rest[1:] if rest.startswith("/") else rest
        return None if file in ("", ":memory:") else Path(file)

    def resolve_password(self) -> SecretStr | None:
        """The password given beside the URL, read from ``password_file`` if need be."""
        if self.password is not None or self.password_file is None:
            return self.password
        try:
            return SecretStr(self.password_file.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConfigError(
                str(self.password_file), "store.password_file", exc.strerror or "unreadable"
            ) from None
