"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.postgres import PgDatabase, session_database


@pytest.fixture(scope="session")
def pg_database() -> Iterator[PgDatabase]:
    """This session's PostgreSQL database (``cm_test_<random>``), dropped at the end."""
    with session_database() as db:
        yield db
