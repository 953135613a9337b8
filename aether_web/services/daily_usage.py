"""Compute seconds per day of the current month, for the daily chart on /billing."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.billing.daily import daily_compute_seconds
from aether_web.billing.periods import month_end, month_of, month_start
from aether_web.db import db_now
from aether_web.models import UsageRecord


def month_runs(
    session: Session, *, user_id: uuid.UUID, month: date
) -> list[tuple[datetime, datetime | None]]:
    """(started_at, ended_at) of the user's runs that overlap `month`, open runs included.

    Reads through `ix_usage_records_user_ended`, so a user's older history is never scanned.
    """
    start, end = month_start(month), month_end(month)
    rows = session.exec(
        select(UsageRecord.started_at, UsageRecord.ended_at).where(
            UsageRecord.user_id == user_id,
            sa.or_(UsageRecord.ended_at.is_(None), UsageRecord.ended_at > start),
            UsageRecord.started_at < end)
    ).all()
    return [(started, ended) for started, ended in rows]


def daily_compute(
    session: Session, *, user_id: uuid.UUID, now: datetime | None = None
) -> list[tuple[date, int]]:
    """(day, compute seconds) for every day of this UTC month, in order; open runs count up
    to now, days still ahead are 0."""
    now = (now or db_now(session)).replace(microsecond=0)
    month = month_of(now)
    series = daily_compute_seconds(month_runs(session, user_id=user_id, month=month),
                                   month=month, now=now)
    return sorted(series.items())
