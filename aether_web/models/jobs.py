"""Scheduled job runs: one row per job and tick, so a tick runs once across workers."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from aether_web.models.types import utc_column


class JobRun(SQLModel, table=True):
    """One run of a scheduled job. The unique (job, tick) pair elects one worker per tick."""

    __tablename__ = "job_runs"
    __table_args__ = (
        sa.UniqueConstraint("job_name", "tick", name="uq_job_runs_job_tick"),
        sa.Index("ix_job_runs_job_started", "job_name", "started_at"),
        sa.Index("ix_job_runs_started_at", "started_at"),  # retention
    )

    id: int | None = Field(default=None, primary_key=True)
    job_name: str = Field(max_length=64)
    # The scheduled instant this run belongs to (a manual run uses its own start).
    tick: datetime = Field(sa_column=utc_column(nullable=False))
    started_at: datetime = Field(sa_column=utc_column(nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=utc_column())
    status: str = Field(default="running", max_length=16)  # running | succeeded | failed
    detail: str = Field(default="", sa_column=sa.Column(sa.Text(), nullable=False, default=""))
