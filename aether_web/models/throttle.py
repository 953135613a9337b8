"""Throttle counters when no Redis is configured: one fixed-window counter per key."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class ThrottleCounter(SQLModel, table=True):
    """Attempts counted under `key` until `expires_at` (unix seconds), then counting restarts.

    Keys hold hashes of emails and addresses, never the values themselves."""

    __tablename__ = "throttle_counters"
    __table_args__ = (sa.Index("ix_throttle_counters_expires_at", "expires_at"),)

    key: str = Field(primary_key=True, max_length=200)
    count: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    expires_at: float = Field(sa_column=sa.Column(sa.Float, nullable=False))
