"""The severity of each queued message: the highest among the alerts it announces, so
delivery can tell receivers a warning from a failure (apprise's notification type)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.store.migrations import forward_only

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    """Add ``outbox.severity`` ("" for the messages queued before it)."""
    op.add_column(
        "outbox", sa.Column("severity", sa.Text, nullable=False, server_default="")
    )


downgrade = forward_only
