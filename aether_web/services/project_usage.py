"""One project's month as its page shows it: compute and storage of the month, recent runs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.billing.periods import month_end, month_start, seconds_in_month
from aether_web.models import UsageRecord

RECENT_RUNS = 10


@dataclass(frozen=True)
class Run:
    """A run of the project's VM; `ended_at` is None while it is open."""

    started_at: datetime
    ended_at: datetime | None
    seconds: int
    end_reason: str | None


@dataclass(frozen=True)
class ProjectMonth:
    """The project's compute seconds inside `month` (open runs count up to now) and its
    latest runs, newest first."""

    month: date
    compute_seconds: int
    runs: list[Run]


def project_month(session: Session, *, user_id: uuid.UUID, project_id: uuid.UUID,
                  month: date, now: datetime) -> ProjectMonth:
    """The project's usage in `month` and its `RECENT_RUNS` latest runs. The caller has
    checked that the project is the user's; `user_id` keeps the reads on the user's index."""
    start, end = month_start(month), month_end(month)
    mine = (UsageRecord.user_id == user_id, UsageRecord.project_id == project_id)
    overlapping = session.exec(
        select(UsageRecord.started_at, UsageRecord.ended_at).where(
            *mine, sa.or_(UsageRecord.ended_at.is_(None), UsageRecord.ended_at > start),
            UsageRecord.started_at < end)
    ).all()
    seconds = sum(seconds_in_month(started, ended or now, month)
                  for started, ended in overlapping if (ended or now) > started)
    latest = session.exec(
        select(UsageRecord).where(*mine).order_by(UsageRecord.started_at.desc())
        .limit(RECENT_RUNS)
    ).all()
    runs = [Run(r.started_at, r.ended_at,
                r.duration_seconds if r.duration_seconds is not None
                else max(0, int((now - r.started_at).total_seconds())),
                r.end_reason) for r in latest]
    return ProjectMonth(month=month, compute_seconds=seconds, runs=runs)


def _utc_month(session: Session, column):
    """The UTC month of a timestamp column as "YYYY-MM", in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM")
    return sa.func.strftime("%Y-%m", column)  # SQLite keeps naive UTC text


def compute_by_project(session: Session, *, user_id: uuid.UUID, months: list[date],
                       now: datetime) -> dict[date, dict[uuid.UUID, int]]:
    """Compute seconds per project for each of `months` (open runs up to now).

    Closed runs that start and end in one month (nearly all) are summed by the database per
    project and month; only the others (open, or across a month's end) are read and split
    here, so a year of runs stays one cheap query.
    """
    if not months:
        return {}
    start, end = month_start(min(months)), month_end(max(months))
    started, ended = _utc_month(session, UsageRecord.started_at), _utc_month(
        session, UsageRecord.ended_at)
    mine = (UsageRecord.user_id == user_id,
            sa.or_(UsageRecord.ended_at.is_(None), UsageRecord.ended_at > start),
            UsageRecord.started_at < end)
    within = sa.and_(UsageRecord.ended_at.is_not(None), UsageRecord.duration_seconds.is_not(None),
                     UsageRecord.started_at >= start, UsageRecord.ended_at <= now,
                     started == ended)
    out: dict[date, dict[uuid.UUID, int]] = {m: {} for m in months}
    for project_id, key, seconds in session.exec(
        select(UsageRecord.project_id, started, sa.func.sum(UsageRecord.duration_seconds))
        .where(*mine, within).group_by(UsageRecord.project_id, started)
    ).all():
        month = date(int(key[:4]), int(key[5:7]), 1)
        if month in out:
            out[month][project_id] = out[month].get(project_id, 0) + int(seconds or 0)
    for project_id, run_start, run_end in session.exec(
        select(UsageRecord.project_id, UsageRecord.started_at, UsageRecord.ended_at)
        .where(*mine, ~within)
    ).all():
        for month in months:
            seconds = seconds_in_month(run_start, run_end or now, month) if (
                (run_end or now) > run_start) else 0
            if seconds:
                out[month][project_id] = out[month].get(project_id, 0) + seconds
    return out
