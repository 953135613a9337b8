"""hook_events: event ids unique per project (policy rule 15)

The key of hook_events becomes (project_id, event_id): project B sending an event_id that
project A already used is a different event, applied on its own. Every row written so far
names its project; a row without one could never be replayed per project and is dropped.

Revision ID: 0006_hook_events_per_project
Revises: 0004_usage_dashboard
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0006_hook_events_per_project"
down_revision: str | Sequence[str] | None = "0004_usage_dashboard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM hook_events WHERE project_id IS NULL")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("hook_events_pkey", "hook_events", type_="primary")
        op.alter_column("hook_events", "project_id", existing_type=sa.Uuid(), nullable=False)
        op.create_primary_key("hook_events_pkey", "hook_events", ["project_id", "event_id"])
        return
    _recreate_on_sqlite(["project_id", "event_id"], project_nullable=False)


def downgrade() -> None:
    # Back to one global key: of ids shared by several projects, the earliest row stays.
    op.execute(
        "DELETE FROM hook_events WHERE EXISTS (SELECT 1 FROM hook_events AS other "
        "WHERE other.event_id = hook_events.event_id "
        "AND (other.received_at < hook_events.received_at "
        "OR (other.received_at = hook_events.received_at "
        "AND CAST(other.project_id AS TEXT) < CAST(hook_events.project_id AS TEXT))))")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("hook_events_pkey", "hook_events", type_="primary")
        op.create_primary_key("hook_events_pkey", "hook_events", ["event_id"])
        op.alter_column("hook_events", "project_id", existing_type=sa.Uuid(), nullable=True)
        return
    _recreate_on_sqlite(["event_id"], project_nullable=True)


def _recreate_on_sqlite(key: list[str], *, project_nullable: bool) -> None:
    """SQLite cannot change a primary key: copy the rows into a table with the new key."""
    op.create_table(
        "hook_events_new",
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=project_nullable),
        sa.Column("machine_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint(*key, name="pk_hook_events"),
    )
    columns = "event_id, kind, project_id, machine_id, outcome, received_at, status_code, response"
    op.execute(f"INSERT INTO hook_events_new ({columns}) "  # noqa: S608 (constant names)
               f"SELECT {columns} FROM hook_events")
    op.drop_index("ix_hook_events_project_kind_at", table_name="hook_events")
    op.drop_table("hook_events")
    op.rename_table("hook_events_new", "hook_events")
    op.create_index("ix_hook_events_project_kind_at", "hook_events",
                    ["project_id", "kind", "received_at"], unique=False)
