"""accounts: email verification, emailed account links, idle session timeout, deletion

Revision ID: 0009_accounts
Revises: 0003_billing

Accounts that exist before this migration are taken as verified (their address has been
receiving billing mail); new ones confirm theirs by a link.
"""
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0009_accounts"
down_revision: str | Sequence[str] | None = "0003_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_verified_at", sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column("signup_plan", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE profiles SET email_verified_at = COALESCE(created_at, CURRENT_TIMESTAMP)")

    # SQLite cannot ADD a column with a non-constant default: rebuild that (small) table.
    with op.batch_alter_table("auth_sessions", schema=None, recreate="always") as batch_op:
        batch_op.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True),
                                      server_default=sa.text("(CURRENT_TIMESTAMP)"),
                                      nullable=True))
    op.execute("UPDATE auth_sessions SET last_seen_at = created_at")

    op.create_table(
        "account_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True),
                  server_default=sa.text("(CURRENT_TIMESTAMP)"), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("purpose in ('password_reset', 'verify_email')",
                           name="ck_account_tokens_purpose"),
        sa.ForeignKeyConstraint(["user_id"], ["profiles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("account_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_account_tokens_user_purpose", ["user_id", "purpose"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("account_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_account_tokens_user_purpose")
    op.drop_table("account_tokens")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_column("last_seen_at")
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("signup_plan")
        batch_op.drop_column("email_verified_at")
