"""metering: hook events (idempotency) and drift reports

Revision ID: 0002_metering
Revises: 0001
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0002_metering"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "drift_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("cached_compute_seconds", sa.BigInteger(), nullable=False),
        sa.Column("actual_compute_seconds", sa.BigInteger(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("drift_reports", schema=None) as batch_op:
        batch_op.create_index("ix_drift_reports_user_month", ["user_id", "month"], unique=False)

    op.create_table(
        "hook_events",
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("machine_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    with op.batch_alter_table("hook_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_hook_events_project_kind_at", ["project_id", "kind", "received_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("hook_events", schema=None) as batch_op:
        batch_op.drop_index("ix_hook_events_project_kind_at")
    op.drop_table("hook_events")
    with op.batch_alter_table("drift_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_drift_reports_user_month")
    op.drop_table("drift_reports")
