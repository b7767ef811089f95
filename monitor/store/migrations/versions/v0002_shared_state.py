"""State that several instances share: leases, the request budget ledger, outbox
claims and the sweepers' per-device memo. (A source's health needs no table of its
own: it is rebuilt from the sweeps it recorded.)

Also drops the ``schema_version`` table that files from before Alembic carry.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the shared-state tables and the outbox claim columns."""
    op.execute("DROP TABLE IF EXISTS schema_version")
    op.create_table(
        "leases",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        sa.Column("acquired_at", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Text, nullable=False),
    )
    op.create_table("budget_sources", sa.Column("source", sa.Text, primary_key=True))
    op.create_table(
        "budget_ledger",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("second", sa.BigInteger, primary_key=True),
        sa.Column("spent", sa.Integer, nullable=False),
    )
    op.create_table(
        "source_memo",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    op.add_column("outbox", sa.Column("claimed_by", sa.Text))
    op.add_column("outbox", sa.Column("claim_expires_at", sa.Text))


def downgrade() -> None:
    """Not supported: a store is only ever moved forward."""
    raise NotImplementedError("the store's schema is only ever moved forward")
