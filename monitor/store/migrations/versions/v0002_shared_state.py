"""State that several instances share: leases, the request budget ledger, outbox
claims and the sweepers' per-device memo. (A source's health needs no table of its
own: it is rebuilt from the sweeps it recorded.)

Also drops the ``schema_version`` table that files from before Alembic carry.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.store.columns import keys, required
from monitor.store.migrations import forward_only

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    """Add the shared-state tables and the outbox claim columns."""
    op.execute("DROP TABLE IF EXISTS schema_version")
    op.create_table(
        "leases",
        *keys(sa.Text, "source"),
        *required(sa.Text, "owner"),
        *required(sa.BigInteger, "epoch"),
        *required(sa.Text, "acquired_at", "expires_at"),
    )
    op.create_table("budget_sources", *keys(sa.Text, "source"))
    op.create_table(
        "budget_ledger",
        *keys(sa.Text, "source"),
        *keys(sa.BigInteger, "second"),
        *required(sa.Integer, "spent"),
    )
    op.create_table(
        "source_memo",
        *keys(sa.Text, "source", "key"),
        *required(sa.Text, "value", "updated_at"),
    )
    op.add_column("outbox", sa.Column("claimed_by", sa.Text))
    op.add_column("outbox", sa.Column("claim_expires_at", sa.Text))


downgrade = forward_only
