"""Projects: each one runs in its own VM."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from aether_web.models.types import user_column, utc_column


class Project(SQLModel, table=True):
    """A user's project. Deleting one only marks it: its usage stays billable and auditable."""

    __tablename__ = "projects"
    __table_args__ = (sa.Index("ix_projects_user_id_deleted_at", "user_id", "deleted_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(sa_column=user_column())
    name: str = Field(max_length=64)
    machine_type: str = Field(default="shared-cpu-1x", max_length=64)
    # The Fly machine (or simulated one) that runs this project, once it has one.
    machine_id: str | None = Field(default=None, max_length=64)
    # What the dashboard shows: stopped | starting | running | stopping.
    vm_state: str = Field(default="stopped", max_length=16)
    storage_bytes: int = Field(default=0, sa_type=sa.BigInteger)
    storage_reported_at: datetime | None = Field(default=None, sa_column=utc_column())
    # Storage has been accrued into usage_monthly up to this instant.
    storage_accrued_until: datetime | None = Field(default=None, sa_column=utc_column())
    created_at: datetime | None = Field(default=None, sa_column=utc_column(server_now=True))
    updated_at: datetime | None = Field(default=None, sa_column=utc_column(server_now=True))
    deleted_at: datetime | None = Field(default=None, sa_column=utc_column())
