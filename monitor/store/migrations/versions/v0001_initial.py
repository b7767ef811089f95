"""The first schema: alerts, sweeps, history, notification log, outbox, silences, actions.

An SQLite file written before the store moved to Alembic (a ``schema_version`` table
holding 1) has exactly these tables; it is stamped with this revision, not re-created.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the first schema."""
    op.create_table(
        "alerts",
        sa.Column("fingerprint", sa.Text, primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("rule_id", sa.Text, nullable=False),
        sa.Column("device_id", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("alerts_by_device", "alerts", ["source", "device_id"])
    op.create_table(
        "sweeps",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("started_at", sa.Text, nullable=False),
        sa.Column("finished_at", sa.Text, nullable=False),
        sa.Column("ok", sa.Integer, nullable=False),
        sa.Column("devices", sa.Integer, nullable=False),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("errors", sa.Integer, nullable=False),
        sa.Column("findings", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("budget_remaining", sa.Float),
        sa.Column("transitions", sa.Integer, nullable=False),
        sa.Column("firing", sa.Integer, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("sweeps_by_source", "sweeps", ["source", "id"])
    op.create_table(
        "alert_history",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("sweep_id", _ID, sa.ForeignKey("sweeps.id")),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("device_id", sa.Text, nullable=False),
        sa.Column("rule_id", sa.Text, nullable=False),
        sa.Column("previous", sa.Text),
        sa.Column("current", sa.Text, nullable=False),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("alert", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("history_by_fingerprint", "alert_history", ["fingerprint", "id"])
    op.create_index("history_by_device", "alert_history", ["source", "device_id", "id"])
    op.create_table(
        "known_rules",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("rule_id", sa.Text, primary_key=True),
        sa.Column("first_seen", sa.Text, nullable=False),
    )
    op.create_table(
        "notification_log",
        sa.Column("group_key", sa.Text, primary_key=True),
        sa.Column("receiver", sa.Text, nullable=False),
        sa.Column("route", sa.Text, nullable=False),
        sa.Column("labels", sa.Text, nullable=False),
        sa.Column("firing", sa.Text, nullable=False),
        sa.Column("sent_at", sa.Text),
        sa.Column("updated_at", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
    )
    op.create_table(
        "outbox",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("group_key", sa.Text, nullable=False),
        sa.Column("receiver", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("body_format", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.Text, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sa.Column("delivered_at", sa.Text),
        sa.Column("firing", sa.Integer, nullable=False, server_default="0"),
        sa.Column("resolved", sa.Integer, nullable=False, server_default="0"),
        sqlite_autoincrement=True,
    )
    op.create_index("outbox_queue", "outbox", ["state", "group_key", "id"])
    op.create_table(
        "silences",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("matchers", sa.Text, nullable=False),
        sa.Column("starts_at", sa.Text, nullable=False),
        sa.Column("ends_at", sa.Text, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "actions",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("device", sa.Text, nullable=False),
        sa.Column("who", sa.Text, nullable=False),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("actions_by_device", "actions", ["device", "id"])


def downgrade() -> None:
    """Not supported: a store is only ever moved forward."""
    raise NotImplementedError("the store's schema is only ever moved forward")
