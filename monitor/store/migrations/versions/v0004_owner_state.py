"""Owner notices and digest runs: each device owner's notice state per owner receiver,
when each digest last ran, and an index on the time of stored transitions (digests and
reports read transitions since a time).

An SQLite file from before the store used Alembic with ``schema_version`` 2 already has
these tables and the index; it is stamped 0001 and moved forward like any other, and
this step leaves what it finds in place.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.store.columns import keys, required
from monitor.store.migrations import forward_only

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    """Add the owner and digest tables and the transitions-by-time index."""
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())
    if "owner_notices" not in tables:
        op.create_table(
            "owner_notices",
            *keys(sa.Text, "key"),
            *required(sa.Text, "receiver", "address"),
            *required(sa.Integer, "open_items"),
            *required(sa.Text, "body", "updated_at"),
        )
    if "digest_runs" not in tables:
        op.create_table(
            "digest_runs",
            *keys(sa.Text, "name"),
            *required(sa.Text, "last_run"),
        )
    indexes = {ix["name"] for ix in inspector.get_indexes("alert_history")}
    if "history_by_time" not in indexes:
        op.create_index("history_by_time", "alert_history", ["at"])


downgrade = forward_only
