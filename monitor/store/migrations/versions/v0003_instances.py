"""Instances: each running daemon's heartbeat, so sources can be spread fairly over the
live ones; each sweep row records the instance and lease epoch it was written under."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.store.columns import keys, required
from monitor.store.migrations import forward_only

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    """Add the instances table."""
    op.create_table(
        "instances",
        *keys(sa.Text, "name"),
        *required(sa.Text, "started_at", "seen_at", "expires_at"),
    )
    op.add_column("sweeps", sa.Column("instance", sa.Text))
    op.add_column("sweeps", sa.Column("epoch", sa.BigInteger))


downgrade = forward_only
