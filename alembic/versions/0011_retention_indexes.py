"""retention: find old hook answers and job runs by age, without scanning the tables

Revision ID: 0011_retention_indexes
Revises: 0004_usage_dashboard
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0011_retention_indexes"
down_revision: str | Sequence[str] | None = "0004_usage_dashboard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_hook_events_received_at", "hook_events", ["received_at"], unique=False)
    op.create_index("ix_job_runs_started_at", "job_runs", ["started_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_job_runs_started_at", table_name="job_runs")
    op.drop_index("ix_hook_events_received_at", table_name="hook_events")
