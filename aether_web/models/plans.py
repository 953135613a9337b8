"""Plan history and storage samples: what a month is priced on."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from aether_web.models.types import plan_key_check, user_column, utc_column


class PlanIntervalRow(SQLModel, table=True):
    """One plan a user held over [started_at, ended_at); ended_at NULL: held now.

    A user's intervals follow each other with no overlap and no gap; only one is open
    (`uq_plan_intervals_open`). Written by `services.plan_history.change_plan` only, in the
    transaction that changes `profiles.plan`.
    """

    __tablename__ = "plan_intervals"
    __table_args__ = (
        sa.Index("uq_plan_intervals_open", "user_id", unique=True,
                 sqlite_where=sa.text("ended_at IS NULL"),
                 postgresql_where=sa.text("ended_at IS NULL")),
        sa.UniqueConstraint("user_id", "started_at", name="uq_plan_intervals_user_start"),
        sa.CheckConstraint("ended_at IS NULL OR ended_at >= started_at",
                           name="ck_plan_intervals_order"),
        plan_key_check("ck_plan_intervals_plan"),
        sa.Index("ix_plan_intervals_user_start", "user_id", "started_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(sa_column=user_column())
    plan: str = Field(max_length=16)
    started_at: datetime = Field(sa_column=utc_column(nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=utc_column())
    # What started it: signup, checkout, switch, cancellation, grace_expiry, support, backfill.
    cause: str = Field(default="", max_length=32)
    # What ended it (the next interval's cause), for support.
    ended_by: str | None = Field(default=None, max_length=32)
    created_at: datetime | None = Field(default=None, sa_column=utc_column(server_now=True))


class StorageSample(SQLModel, table=True):
    """A project's stored bytes from `at` until its next sample (a step function)."""

    __tablename__ = "storage_samples"
    __table_args__ = (
        sa.Index("ix_storage_samples_project_at", "project_id", "at"),
        sa.Index("ix_storage_samples_user_at", "user_id", "at"),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
        autoincrement=True))
    project_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid(), sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False))
    user_id: uuid.UUID = Field(sa_column=user_column())
    at: datetime = Field(sa_column=utc_column(nullable=False))
    bytes_used: int = Field(sa_type=sa.BigInteger)
