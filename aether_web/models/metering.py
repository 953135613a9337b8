"""Metering bookkeeping: the hooks already answered (idempotency) and drift found in the cache."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from aether_web.models.types import month_column, utc_column


class HookEvent(SQLModel, table=True):
    """One orchestrator hook that was applied, keyed by its project and event_id.

    Event ids are unique per project (policy rule 15): a repeat of the same event_id for the
    same project gets `response` back and changes nothing; another project's event with that
    id is a different event. Rows of `stopped` hooks that found no run also remember a stop
    that arrived before its `started`.
    """

    __tablename__ = "hook_events"
    __table_args__ = (
        # A kind of a project over time (a machine's last start or stop). `kind` leads, so
        # the lookup of one event by (project_id, event_id) has only the primary key to use.
        sa.Index("ix_hook_events_kind_project_at", "kind", "project_id", "received_at"),
        sa.Index("ix_hook_events_received_at", "received_at"),  # retention
    )

    project_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid(), primary_key=True))
    event_id: str = Field(primary_key=True, max_length=128)
    kind: str = Field(max_length=32)
    machine_id: str = Field(default="", max_length=64)
    # What the hook did: opened, closed, heartbeat, already_open, stopped_before_started, ...
    outcome: str = Field(default="", max_length=32)
    received_at: datetime = Field(sa_column=utc_column(nullable=False))
    status_code: int = Field(default=200)
    response: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(sa.JSON(), nullable=False)
    )


class DriftReport(SQLModel, table=True):
    """A difference between usage_monthly and the usage_records it caches, found and corrected
    by the daily rebuild."""

    __tablename__ = "drift_reports"
    __table_args__ = (sa.Index("ix_drift_reports_user_month", "user_id", "month"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid(), nullable=False))
    month: date = Field(sa_column=month_column())
    cached_compute_seconds: int = Field(sa_type=sa.BigInteger)
    actual_compute_seconds: int = Field(sa_type=sa.BigInteger)
    detected_at: datetime = Field(sa_column=utc_column(nullable=False))
