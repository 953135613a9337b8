"""month end: one row per month whose overage was planned; report statuses pending/accepted/refused

`overage_months` records when the month-end job started a month, when every paying user's
overage of it was planned (so the job plans a month once, however often it runs) and when
Stripe had accepted all of it.

Report statuses: `sent` becomes `accepted` (Stripe answered 2xx). `failed` rows were either
"Stripe did not answer" (they go back to `pending`, to be sent again with the same identifier)
or a refusal (`refused`).

Revision ID: 0007_month_end
Revises: 0003_billing
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_month_end"
down_revision: str | Sequence[str] | None = "0003_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The message StripeUnavailable carried when a send gave up (the old sender stored it).
UNAVAILABLE = "Our payment provider is not answering. Please try again in a minute."


def upgrade() -> None:
    op.create_table(
        "overage_months",
        sa.Column("month", sa.Date(), primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("bills", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("reports", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
    )
    with op.batch_alter_table("overage_reports", schema=None) as batch_op:
        batch_op.create_index("ix_overage_reports_month_status", ["month", "status"],
                              unique=False)
    reports = sa.table("overage_reports", sa.column("status", sa.String),
                       sa.column("last_error", sa.Text))
    op.execute(reports.update().where(reports.c.status == "sent").values(status="accepted"))
    op.execute(reports.update().where(reports.c.status == "failed",
                                      reports.c.last_error == UNAVAILABLE)
               .values(status="pending"))
    op.execute(reports.update().where(reports.c.status == "failed").values(status="refused"))


def downgrade() -> None:
    reports = sa.table("overage_reports", sa.column("status", sa.String))
    op.execute(reports.update().where(reports.c.status == "accepted").values(status="sent"))
    op.execute(reports.update().where(reports.c.status == "refused").values(status="failed"))
    with op.batch_alter_table("overage_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_overage_reports_month_status")
    op.drop_table("overage_months")
