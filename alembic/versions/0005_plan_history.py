"""plan history: plan intervals per user and storage samples; back-filled from today's plans

Revision ID: 0005_plan_history
Revises: 0003_billing

Every user gets intervals covering all time with no gap (the first one opens at 1970-01-01, so
no usage can fall outside the history): Free, and for a paid user their plan from the start of
the first invoice period of their current subscription (or all along when no invoice is known). Each project's last storage report becomes its first
sample.
"""
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from alembic import op

revision: str = "0005_plan_history"
down_revision: str | Sequence[str] | None = "0003_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAID = ("pro", "team")
HISTORY_START = datetime(1970, 1, 1, tzinfo=UTC)


def upgrade() -> None:
    op.create_table(
        "plan_intervals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("plan", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.Column("ended_by", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True),
                  server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=True),
        sa.CheckConstraint("ended_at IS NULL OR ended_at >= started_at",
                           name="ck_plan_intervals_order"),
        sa.CheckConstraint("plan in ('free', 'pro', 'team')", name="ck_plan_intervals_plan"),
        sa.ForeignKeyConstraint(["user_id"], ["profiles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "started_at", name="uq_plan_intervals_user_start"),
    )
    with op.batch_alter_table("plan_intervals", schema=None) as batch_op:
        batch_op.create_index("ix_plan_intervals_user_start", ["user_id", "started_at"])
        batch_op.create_index("uq_plan_intervals_open", ["user_id"], unique=True,
                              sqlite_where=sa.text("ended_at IS NULL"),
                              postgresql_where=sa.text("ended_at IS NULL"))
    op.create_table(
        "storage_samples",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bytes_used", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["profiles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("storage_samples", schema=None) as batch_op:
        batch_op.create_index("ix_storage_samples_project_at", ["project_id", "at"])
        batch_op.create_index("ix_storage_samples_user_at", ["user_id", "at"])
    _backfill()


def _backfill() -> None:
    bind = op.get_bind()
    meta = sa.MetaData()
    profiles = sa.Table("profiles", meta, autoload_with=bind)
    invoices = sa.Table("invoices", meta, autoload_with=bind)
    projects = sa.Table("projects", meta, autoload_with=bind)
    # Typed by hand: reflected on SQLite, UUID columns would come back as plain CHAR(32).
    intervals = sa.table(
        "plan_intervals", sa.column("id", sa.Uuid()), sa.column("user_id", sa.Uuid()),
        sa.column("plan", sa.String()), sa.column("started_at", sa.DateTime(timezone=True)),
        sa.column("ended_at", sa.DateTime(timezone=True)), sa.column("cause", sa.String()),
        sa.column("ended_by", sa.String()))
    samples = sa.table(
        "storage_samples", sa.column("project_id", sa.Uuid()), sa.column("user_id", sa.Uuid()),
        sa.column("at", sa.DateTime(timezone=True)), sa.column("bytes_used", sa.BigInteger()))
    rows = bind.execute(sa.select(
        profiles.c.id, profiles.c.plan, profiles.c.stripe_subscription_id,
        sa.select(sa.func.min(invoices.c.period_start)).where(
            invoices.c.user_id == profiles.c.id,
            invoices.c.stripe_subscription_id == profiles.c.stripe_subscription_id,
        ).scalar_subquery().label("paid_since"),
    )).all()
    out = []
    for row in rows:
        user_id = uuid.UUID(str(row.id))
        start = HISTORY_START
        paid_since = _moment(row.paid_since).replace(microsecond=0) if row.paid_since else None
        if row.plan in PAID and paid_since is not None and paid_since > start:
            out.append(dict(id=uuid.uuid4(), user_id=user_id, plan="free", started_at=start,
                            ended_at=paid_since, cause="backfill", ended_by="backfill"))
            start = paid_since
        out.append(dict(id=uuid.uuid4(), user_id=user_id, plan=row.plan, started_at=start,
                        ended_at=None, cause="backfill", ended_by=None))
    if out:
        bind.execute(intervals.insert(), out)
    bind.execute(samples.insert().from_select(
        ["project_id", "user_id", "at", "bytes_used"],
        sa.select(projects.c.id, projects.c.user_id, projects.c.storage_reported_at,
                  projects.c.storage_bytes).where(projects.c.storage_reported_at.is_not(None))))


def _moment(value):
    """A timestamp as stored: SQLite may hand back text, and naive UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def downgrade() -> None:
    op.drop_table("storage_samples")
    op.drop_table("plan_intervals")
