"""hook_events: the retention index by age, also where the per-project copy dropped it

On SQLite, 0006 copies hook_events into a new table (a primary key can't change there); when
it ran after 0011 the copy lost `ix_hook_events_received_at`, so the daily purge scanned the
table. Created here where it is missing; a database that has it is left as it is.

Revision ID: 0014_hook_events_age_index
Revises: 0006_hook_events_per_project, 0011_retention_indexes
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0014_hook_events_age_index"
down_revision: str | Sequence[str] | None = ("0006_hook_events_per_project",
                                             "0011_retention_indexes")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_hook_events_received_at", "hook_events", ["received_at"], unique=False,
                    if_not_exists=True)


def downgrade() -> None:
    pass  # the index belongs to 0011: its downgrade drops it
