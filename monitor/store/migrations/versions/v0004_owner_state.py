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

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the owner and digest tables and the transitions-by-time index."""
    inspector = sa.inspect(op.get_bind())
    tables = set(inspector.get_table_names())
    if "owner_notices" not in tables:
        op.create_table(
            "owner_notices",
            sa.Column("key", sa.Text, primary_key=True),
            sa.Column("receiver", sa.Text, nullable=False),
            sa.Column("address", sa.Text, nullable=False),
            sa.Column("open_items", sa.Integer, nullable=False),
            sa.Column("body", sa.Text, nullable=False),
            sa.Column("updated_at", sa.Text, nullable=False),
        )
    if "digest_runs" not in tables:
        op.create_table(
            "digest_runs",
            sa.Column("name", sa.Text, primary_key=True),
            sa.Column("last_run", sa.Text, nullable=False),
        )
    indexes = {ix["name"] for ix in inspector.get_indexes("alert_history")}
    if "history_by_time" not in indexes:
        op.create_index("history_by_time", "alert_history", ["at"])


def downgrade() -> None:
    """Not supported: a store is only ever moved forward."""
    raise NotImplementedError("the store's schema is only ever moved forward")
