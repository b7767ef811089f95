"""The store's migration history (Alembic), one for SQLite and PostgreSQL alike.

Each file in ``versions/`` is one step, applied in order by
:func:`monitor.store.migrate.upgrade` when the store opens; the database's
``alembic_version`` table records the last one applied. A database whose revision this
program does not know was written by a newer version and is refused.

To add a step: copy the latest file, give it the next number as ``revision`` and the
latest one as ``down_revision``, change :mod:`monitor.store.schema` to match, and run
the store's tests (``tests/store/test_schema.py`` compares the two on both backends).

A step is history and never imports :mod:`monitor.store.schema` (today's tables): it
names its columns with the builders of :mod:`monitor.store.columns`, which never change
what they build, and its ``downgrade`` is :func:`forward_only`.
"""


def forward_only() -> None:
    """Every step's ``downgrade``: not supported, a store is only ever moved forward."""
    raise NotImplementedError("the store's schema is only ever moved forward")
