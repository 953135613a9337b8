"""The usage ledger: VM runs and their monthly cache."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from aether_web.models.types import month_column, user_column, utc_column


class Run(SQLModel, table=True):
    """One VM run of one project, from database-time start to database-time end (the table
    keeps its first name, `usage_records`)."""

    __tablename__ = "usage_records"
    __table_args__ = (
        # At most one open run per project.
        sa.Index(
            "uq_usage_records_open_run",
            "project_id",
            unique=True,
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        ),
        sa.CheckConstraint(
            "ended_at IS NULL OR ended_at >= started_at", name="ck_usage_records_order"
        ),
        sa.Index("usage_records_user_id_idx", "user_id"),
        sa.Index("usage_records_project_id_idx", "project_id"),
        sa.Index("usage_records_started_at_idx", "started_at"),
        # A month's runs of one user (the daily chart) by their end, open runs included.
        sa.Index("ix_usage_records_user_ended", "user_id", "ended_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    project_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid(), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
        )
    )
    user_id: uuid.UUID = Field(sa_column=user_column(ondelete=None))
    machine_id: str = Field(default="", max_length=64)
    machine_type: str = Field(default="shared-cpu-1x", max_length=64)
    started_at: datetime = Field(sa_column=utc_column(nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=utc_column())
    last_heartbeat_at: datetime | None = Field(default=None, sa_column=utc_column())
    duration_seconds: int | None = Field(default=None)
    end_reason: str | None = Field(default=None, max_length=64)
    created_at: datetime | None = Field(default=None, sa_column=utc_column(server_now=True))


class UsageMonthly(SQLModel, table=True):
    """Monthly totals per user: a cache of usage_records, rebuilt daily."""

    __tablename__ = "usage_monthly"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "month", name="uq_usage_monthly_user_month"),
        sa.Index("usage_monthly_user_month_idx", "user_id", "month"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(sa_column=user_column(ondelete=None))
    month: date = Field(sa_column=month_column())
    compute_seconds: int = Field(
        default=0, sa_column=sa.Column(sa.BigInteger(), nullable=False, server_default="0")
    )
    storage_gb_hours: Decimal = Field(
        default=Decimal(0), sa_column=sa.Column(sa.Numeric(24, 4), nullable=False, default=0, server_default="0")
    )
