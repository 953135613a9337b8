"""drop plan_limits: the limits live in the plan catalogue (aether_web/billing/plans.py), and
nothing read the seeded copy

Revision ID: 0012_drop_plan_limits
Revises: 0001
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0012_drop_plan_limits"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("plan_limits")


def downgrade() -> None:
    plan_limits = op.create_table(
        "plan_limits",
        sa.Column("plan", sa.String(length=16), nullable=False),
        sa.Column("compute_seconds_monthly", sa.Integer(), nullable=False),
        sa.Column("storage_gb", sa.Integer(), nullable=False),
        sa.Column("max_projects", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("plan"),
    )
    op.bulk_insert(plan_limits, [
        {"plan": "free", "compute_seconds_monthly": 180000, "storage_gb": 1, "max_projects": 3},
        {"plan": "pro", "compute_seconds_monthly": 720000, "storage_gb": 10, "max_projects": 20},
        {"plan": "team", "compute_seconds_monthly": 1800000, "storage_gb": 50,
         "max_projects": 1000},
    ])
