"""Instances: each running daemon's heartbeat, so sources can be spread fairly over the
live ones; each sweep row records the instance and lease epoch it was written under."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the instances table."""
    op.create_table(
        "instances",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("started_at", sa.Text, nullable=False),
        sa.Column("seen_at", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Text, nullable=False),
    )
    op.add_column("sweeps", sa.Column("instance", sa.Text))
    op.add_column("sweeps", sa.Column("epoch", sa.BigInteger))


def downgrade() -> None:
    """Not supported: a store is only ever moved forward."""
    raise NotImplementedError("the store's schema is only ever moved forward")
