"""The first schema: alerts, sweeps, history, notification log, outbox, silences, actions.

An SQLite file written before the store moved to Alembic (a ``schema_version`` table
holding 1) has exactly these tables; it is stamped with this revision, not re-created.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.store.columns import RowId, keys, required, row_id
from monitor.store.migrations import forward_only

revision = "0001"
down_revision = None


def upgrade() -> None:
    """Create the first schema."""
    op.create_table(
        "alerts",
        *keys(sa.Text, "fingerprint"),
        *required(sa.Text, "source", "rule_id", "device_id", "state", "body"),
    )
    op.create_index("alerts_by_device", "alerts", ["source", "device_id"])
    op.create_table(
        "sweeps",
        row_id(),
        *required(sa.Text, "source", "started_at", "finished_at"),
        *required(sa.Integer, "ok", "devices", "requests", "errors", "findings"),
        *required(sa.Text, "error"),
        sa.Column("budget_remaining", sa.Float),
        *required(sa.Integer, "transitions", "firing"),
        sqlite_autoincrement=True,
    )
    op.create_index("sweeps_by_source", "sweeps", ["source", "id"])
    op.create_table(
        "alert_history",
        row_id(),
        sa.Column("sweep_id", RowId, sa.ForeignKey("sweeps.id")),
        *required(sa.Text, "fingerprint", "source", "device_id", "rule_id"),
        sa.Column("previous", sa.Text),
        *required(sa.Text, "current", "at", "alert"),
        sqlite_autoincrement=True,
    )
    op.create_index("history_by_fingerprint", "alert_history", ["fingerprint", "id"])
    op.create_index("history_by_device", "alert_history", ["source", "device_id", "id"])
    op.create_table(
        "known_rules",
        *keys(sa.Text, "source", "rule_id"),
        *required(sa.Text, "first_seen"),
    )
    op.create_table(
        "notification_log",
        *keys(sa.Text, "group_key"),
        *required(sa.Text, "receiver", "route", "labels", "firing"),
        sa.Column("sent_at", sa.Text),
        *required(sa.Text, "updated_at"),
        sa.Column("reason", sa.Text),
    )
    op.create_table(
        "outbox",
        row_id(),
        *required(sa.Text, "group_key", "receiver", "reason", "title", "body", "body_format",
                  "created_at", "state"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        *required(sa.Text, "next_attempt_at"),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sa.Column("delivered_at", sa.Text),
        sa.Column("firing", sa.Integer, nullable=False, server_default="0"),
        sa.Column("resolved", sa.Integer, nullable=False, server_default="0"),
        sqlite_autoincrement=True,
    )
    op.create_index("outbox_queue", "outbox", ["state", "group_key", "id"])
    op.create_table(
        "silences",
        row_id(),
        *required(sa.Text, "matchers", "starts_at", "ends_at", "comment", "author",
                  "created_at"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "actions",
        row_id(),
        *required(sa.Text, "action", "device", "who", "at", "result", "detail"),
        sqlite_autoincrement=True,
    )
    op.create_index("actions_by_device", "actions", ["device", "id"])


downgrade = forward_only
