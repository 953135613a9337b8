"""usage dashboard: find a user's runs of a month by their end, without scanning their history

Revision ID: 0004_usage_dashboard
Revises: 0002_metering
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0004_usage_dashboard"
down_revision: str | Sequence[str] | None = "0002_metering"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.create_index("ix_usage_records_user_ended", ["user_id", "ended_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_records_user_ended")
