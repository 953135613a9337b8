"""Compute seconds per day of the current month, for the daily chart on /billing."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.billing.daily import daily_compute_seconds
from aether_web.billing.periods import month_end, month_of, month_start
from aether_web.db import db_now, is_postgres
from aether_web.models import Run


def _utc_day(session: Session, column):
    """The UTC calendar day of a timestamp column, in SQL."""
    if is_postgres(session):
        return sa.cast(sa.func.timezone("UTC", column), sa.Date)
    return sa.func.date(column)  # SQLite keeps naive UTC text


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def month_runs(
    session: Session, *, user_id: uuid.UUID, month: date
) -> list[tuple[datetime, datetime | None]]:
    """(started_at, ended_at) of the user's runs that overlap `month`, open runs included.

    Reads through `ix_usage_records_user_ended`, so a user's older history is never scanned.
    """
    start, end = month_start(month), month_end(month)
    rows = session.exec(
        select(Run.started_at, Run.ended_at).where(
            Run.user_id == user_id,
            sa.or_(Run.ended_at.is_(None), Run.ended_at > start),
            Run.started_at < end)
    ).all()
    return [(started, ended) for started, ended in rows]


def daily_compute(
    session: Session, *, user_id: uuid.UUID, now: datetime | None = None
) -> list[tuple[date, int]]:
    """(day, compute seconds) for every day of this UTC month, in order; open runs count up
    to now, days still ahead are 0.

    Closed runs that start and end on one day inside the month (nearly all of them) are
    summed per day by the database; only the others (open, spanning midnight or the month's
    start) are read and split here, so a month of ten thousand runs stays cheap.
    """
    now = (now or db_now(session)).replace(microsecond=0)
    month = month_of(now)
    start, end = month_start(month), month_end(month)
    started_day = _utc_day(session, Run.started_at)
    same_day = sa.and_(Run.ended_at.is_not(None),
                       Run.duration_seconds.is_not(None), Run.started_at >= start,
                       Run.ended_at <= now, started_day == _utc_day(
                           session, Run.ended_at))
    overlapping = (Run.user_id == user_id,
                   sa.or_(Run.ended_at.is_(None), Run.ended_at > start),
                   Run.started_at < end)
    summed = session.exec(
        select(started_day, sa.func.sum(Run.duration_seconds))
        .where(*overlapping, same_day).group_by(started_day)
    ).all()
    others = session.exec(
        select(Run.started_at, Run.ended_at).where(*overlapping, ~same_day)
    ).all()
    series = daily_compute_seconds(others, month=month, now=now)
    for day, seconds in summed:
        series[_as_date(day)] += int(seconds or 0)
    return sorted(series.items())
