"""usage_monthly.storage_gb_hours holds up to 10^20 GB-hours: numeric(14, 4) overflowed (and
failed the hourly storage accrual for everyone) once a user's projects stored about 13 PB in
a month, e.g. 12 projects at the largest size the storage hook accepts (2^50 bytes)

Revision ID: 0013_wider_storage_gb_hours
Revises: 0001
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0013_wider_storage_gb_hours"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # PostgreSQL widens a numeric's precision (same scale) without rewriting the table.
    with op.batch_alter_table("usage_monthly") as batch:
        batch.alter_column("storage_gb_hours", type_=sa.Numeric(24, 4),
                           existing_type=sa.Numeric(14, 4), existing_nullable=False,
                           existing_server_default="0")


def downgrade() -> None:
    with op.batch_alter_table("usage_monthly") as batch:
        batch.alter_column("storage_gb_hours", type_=sa.Numeric(14, 4),
                           existing_type=sa.Numeric(24, 4), existing_nullable=False,
                           existing_server_default="0")
