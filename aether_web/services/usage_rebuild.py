"""Compute seconds per user and UTC month, summed by the database, and the daily rebuild of
`usage_monthly` from them.

The runs are never loaded into Python: one GROUP BY over the runs of the months splits each
run at the month edges (a run counts, in each month, the whole seconds of the month it covers)
and sums per user, so memory stays bounded whatever the number of runs. A run still open
counts up to its last sign of life (`runs.last_sign_of_life_sql`), never to when the job ran.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sentry_sdk
import sqlalchemy as sa
from sqlmodel import Session

from aether_web.billing.periods import month_end, month_of, month_start, previous_month
from aether_web.db import Sql, db_now, without_jit
from aether_web.models import DriftReport, Run, UsageMonthly
from aether_web.models.types import UTCDateTime
from aether_web.observability import log
from aether_web.services.runs import last_sign_of_life_sql

# How many of the largest differences a drift summary names.
WORST_CASES = 10


@dataclass(frozen=True)
class Drift:
    """One user's month where usage_monthly differed from the runs."""

    user_id: uuid.UUID
    month: date
    cached_compute_seconds: int
    actual_compute_seconds: int

    @property
    def difference(self) -> int:
        """Seconds the runs hold beyond the cache (negative: the cache held more)."""
        return self.actual_compute_seconds - self.cached_compute_seconds


@dataclass(frozen=True)
class DriftSummary:
    """What one rebuild found: how many user-months drifted, by how many seconds in all
    (absolute and net), and the worst cases (largest absolute difference first)."""

    months: tuple[date, ...]
    count: int = 0
    total_seconds: int = 0
    net_seconds: int = 0
    worst: tuple[Drift, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        """One line for people: the months, the count, the totals and the worst cases."""
        months = ", ".join(m.strftime("%Y-%m") for m in self.months)
        if not self.count:
            return f"usage_monthly matches the runs for {months}"
        worst = "; ".join(f"user {d.user_id} {d.month:%Y-%m}: cached {d.cached_compute_seconds}"
                          f" s, runs {d.actual_compute_seconds} s" for d in self.worst)
        return (f"usage_monthly drift for {months}: {self.count} user-months corrected, "
                f"{self.total_seconds} s in all (net {self.net_seconds:+d} s); worst: {worst}")


def _bound(value: datetime, name: str) -> Any:
    return sa.bindparam(name, value, type_=UTCDateTime())


def compute_seconds_query(session: Session, *, months: list[date], now: datetime,
                          include_open: bool = True) -> sa.Select:
    """One GROUP BY over the runs that touch `months`: rows `(user_id, month, seconds)` with
    each run split at the month edges, one row per user and month with seconds > 0.

    Closed runs count to their end; with `include_open`, open runs count to their last sign
    of life (never past `now`). The runs are scanned once, whatever the number of months.
    """
    if not months:
        raise ValueError("compute_seconds_query needs at least one month")
    sql = Sql(session)
    runs = Run.__table__
    months = sorted(set(months))
    end = runs.c.ended_at
    if include_open:
        end = sa.func.coalesce(runs.c.ended_at,
                               sql.least(last_sign_of_life_sql(runs), _bound(now, "now")))
    # A closed run inside one month (nearly every run) counts its own duration; only the
    # others are clamped to the month's edges.
    whole = sa.func.coalesce(runs.c.duration_seconds,
                             sql.seconds_between(runs.c.started_at, end))
    sums = []
    for i, month in enumerate(months):
        lo, hi = _bound(month_start(month), f"lo_{i}"), _bound(month_end(month), f"hi_{i}")
        clamped = sql.seconds_between(sql.greatest(runs.c.started_at, lo), sql.least(end, hi))
        sums.append(sa.func.sum(sa.case(
            (sa.and_(runs.c.started_at >= lo, end <= hi), whole),
            (sa.and_(runs.c.started_at < hi, end > lo), clamped),
            else_=0)).label(f"s_{i}"))
    first, last = _bound(month_start(months[0]), "first"), _bound(month_end(months[-1]), "last")
    where = [runs.c.started_at < last, end > first]
    if not include_open:
        where.append(runs.c.ended_at.is_not(None))
    per_user = (sa.select(runs.c.user_id, *sums).where(*where).group_by(runs.c.user_id)
                .cte("per_user"))
    parts = [sa.select(per_user.c.user_id, _month_value(sql, month).label("month"),
                       per_user.c[f"s_{i}"].label("seconds"))
             .where(per_user.c[f"s_{i}"] > 0) for i, month in enumerate(months)]
    return parts[0] if len(parts) == 1 else sa.union_all(*parts)  # type: ignore[return-value]


def _month_value(sql: Sql, month: date) -> Any:
    """A month as a value of the query. Cast on PostgreSQL, where a statement that creates a
    table from the query renders it as a literal of type text; not on SQLite, whose CAST to
    DATE would make it a number."""
    value = sa.literal(month, sa.Date())
    return sa.cast(value, sa.Date()) if sql.pg else value


def compute_seconds_by_user(session: Session, *, month: date, now: datetime,
                            include_open: bool = True) -> dict[uuid.UUID, int]:
    """Each user's compute seconds inside `month` (see compute_seconds_query), one row per
    user with usage."""
    rows = session.execute(compute_seconds_query(session, months=[month], now=now,
                                                 include_open=include_open))
    return {_uuid(user_id): int(seconds) for user_id, _month, seconds in rows}


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


DRIFT_TABLE = "rebuild_drift"


def rebuild_monthly(
    session: Session, *, now: datetime | None = None, months: list[date] | None = None,
) -> DriftSummary:
    """Recompute usage_monthly.compute_seconds of closed runs (this month and the last by
    default) in SQL, correct every difference, keep one drift_reports row per difference, and
    report them once as one summary (log and Sentry) with the worst cases.

    usage_monthly caches closed runs (closing a run adds its seconds), so the rebuild counts
    closed runs; the runs and the cache are read by one statement, and a correction adds the
    difference, so a run closed meanwhile is neither lost nor counted twice.
    """
    now = (now or db_now(session)).replace(microsecond=0)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    if months is None:
        months = [previous_month(month_of(now)), month_of(now)]
    months = sorted(set(months))
    if not months:
        return DriftSummary(months=())
    without_jit(session)
    conn = session.connection()
    create = _find_drift(session, months=months, now=now)
    drift = create.table
    drift.drop(conn, checkfirst=True)
    session.execute(create)
    try:
        summary = _summarize(session, drift, months=months)
        if summary.count:
            _correct(session, drift, now=now)
    finally:
        drift.drop(conn)
    session.expire_all()
    if summary.count:
        log.warning(summary.describe())
        sentry_sdk.capture_message(summary.describe(), level="warning")
    else:
        log.info(summary.describe())
    return summary


def _find_drift(session: Session, *, months: list[date], now: datetime) -> sa.CreateTableAs:
    """The statement that creates the temporary table of every user-month whose cache
    differs from its runs (user_id, month, cached, actual), filled as it is created (one
    snapshot of runs and cache). CREATE TABLE AS, not INSERT ... SELECT: PostgreSQL runs a
    statement that writes rows without parallel workers, except this one."""
    actual = compute_seconds_query(session, months=months, now=now,
                                   include_open=False).cte("actual")
    cache = UsageMonthly.__table__
    found = (sa.select(actual.c.user_id.label("user_id"), actual.c.month.label("month"),
                       sa.cast(sa.func.coalesce(cache.c.compute_seconds, 0),
                               sa.BigInteger).label("cached"),
                       sa.cast(actual.c.seconds, sa.BigInteger).label("actual"))
             .select_from(actual.outerjoin(cache, sa.and_(cache.c.user_id == actual.c.user_id,
                                                          cache.c.month == actual.c.month)))
             .where(sa.func.coalesce(cache.c.compute_seconds, 0) != actual.c.seconds))
    stale = (sa.select(cache.c.user_id, cache.c.month, cache.c.compute_seconds,
                       sa.cast(sa.literal(0), sa.BigInteger))
             .where(cache.c.month.in_(months), cache.c.compute_seconds != 0,
                    ~sa.exists().where(actual.c.user_id == cache.c.user_id,
                                       actual.c.month == cache.c.month)))
    return sa.CreateTableAs(sa.union_all(found, stale), DRIFT_TABLE, temporary=True)


def _summarize(session: Session, drift: sa.Table, *, months: list[date]) -> DriftSummary:
    difference = drift.c.actual - drift.c.cached
    count, total, net = session.execute(sa.select(
        sa.func.count(), sa.func.coalesce(sa.func.sum(sa.func.abs(difference)), 0),
        sa.func.coalesce(sa.func.sum(difference), 0))).one()
    worst = session.execute(
        sa.select(drift.c.user_id, drift.c.month, drift.c.cached, drift.c.actual)
        .order_by(sa.func.abs(difference).desc(), drift.c.user_id).limit(WORST_CASES)).all()
    return DriftSummary(months=tuple(months), count=int(count), total_seconds=int(total),
                        net_seconds=int(net),
                        worst=tuple(Drift(_uuid(u), m, int(c), int(a)) for u, m, c, a in worst))


def _correct(session: Session, drift: sa.Table, *, now: datetime) -> None:
    reports = DriftReport.__table__
    session.execute(reports.insert().from_select(
        ["user_id", "month", "cached_compute_seconds", "actual_compute_seconds", "detected_at"],
        sa.select(drift.c.user_id, drift.c.month, drift.c.cached, drift.c.actual,
                  _bound(now, "detected_at"))))
    cache = UsageMonthly.__table__
    session.execute(
        cache.update()
        .where(cache.c.user_id == drift.c.user_id, cache.c.month == drift.c.month)
        .values(compute_seconds=cache.c.compute_seconds + (drift.c.actual - drift.c.cached)))
    missing = sa.select(Sql(session).new_uuid(), drift.c.user_id, drift.c.month, drift.c.actual,
                        sa.literal(0)).where(
        ~sa.exists().where(cache.c.user_id == drift.c.user_id, cache.c.month == drift.c.month))
    session.execute(cache.insert().from_select(
        ["id", "user_id", "month", "compute_seconds", "storage_gb_hours"], missing))

