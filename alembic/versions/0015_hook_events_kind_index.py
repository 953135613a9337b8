"""hook_events: the index for a machine's recent starts and stops leads with `kind`

`ix_hook_events_project_kind_at` (project_id, kind, received_at) also matched a lookup of one
event by (project_id, event_id), the primary key's own columns. On a table the planner had no
statistics for, a heartbeat's cached plan could take it and read every event of the project
for each heartbeat, more with each one. `ix_hook_events_kind_project_at` (kind, project_id,
received_at) serves the same queries (a kind, a project, a time range) and leaves that lookup
to the primary key.

Revision ID: 0015_hook_events_kind_index
Revises: 0014_hook_events_age_index
"""
from collections.abc import Sequence

from alembic import op

revision: str = "0015_hook_events_kind_index"
down_revision: str | Sequence[str] | None = "0014_hook_events_age_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_hook_events_kind_project_at", "hook_events",
                    ["kind", "project_id", "received_at"], unique=False)
    op.drop_index("ix_hook_events_project_kind_at", table_name="hook_events")


def downgrade() -> None:
    op.create_index("ix_hook_events_project_kind_at", "hook_events",
                    ["project_id", "kind", "received_at"], unique=False)
    op.drop_index("ix_hook_events_kind_project_at", table_name="hook_events")
