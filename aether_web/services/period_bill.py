"""One computation per user and UTC month: every display, email and the month end read it.

The per-user inputs are aggregated in the database for all users at once: plan intervals are
clamped to the month in SQL, each run is cut at the interval and month edges there, storage
samples become a step function with a window function, and only one row per user and project
comes back, streamed in user order (bounded memory). The pure rules in
`billing.period_bill.build_period_bill` then price each user.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from aether_web.billing.period_bill import PeriodBill, ProjectUsage, build_period_bill, usage_end
from aether_web.billing.periods import month_end, month_start
from aether_web.billing.plan_history import HISTORY_START, PlanInterval, whole_second
from aether_web.billing.plans import PAID_PLAN_KEYS, PlanKey
from aether_web.db import Sql
from aether_web.models import PlanIntervalRow, Profile, Project, Run, StorageSample
from aether_web.models.types import UTCDateTime
from aether_web.services.runs import HEARTBEAT_TIMEOUT, last_sign_of_life_sql

FAR = 253402300799  # 9999-12-31T23:59:59Z as epoch seconds: "no end"
STREAM = {"stream_results": True, "yield_per": 2000}


def _ts(value: datetime) -> Any:
    return sa.literal(value, UTCDateTime())


def _epoch_of(value: datetime) -> int:
    return int(whole_second(value).timestamp())


def _intervals_cte(sql: Sql, *, start: datetime, end: datetime,
                   user_ids: Sequence[uuid.UUID] | None) -> Any:
    pi = PlanIntervalRow.__table__.c
    recorded = sa.select(
        pi.user_id.label("user_id"), pi.plan.label("plan"),
        sql.epoch(pi.started_at).label("s"),
        sa.func.coalesce(sql.epoch(pi.ended_at), FAR).label("e"),
    ).where(pi.started_at < _ts(end),
            sa.or_(pi.ended_at.is_(None), pi.ended_at > _ts(start)))
    pr = Profile.__table__.c
    has_history = sa.exists().where(pi.user_id == pr.id)
    implied = sa.select(
        pr.id.label("user_id"), pr.plan.label("plan"),
        sa.literal(_epoch_of(HISTORY_START), sa.BigInteger).label("s"),
        sa.literal(FAR, sa.BigInteger).label("e"),
    ).where(~has_history)
    if user_ids is not None:
        recorded = recorded.where(pi.user_id.in_(user_ids))
        implied = implied.where(pr.id.in_(user_ids))
    cte = sa.union_all(recorded, implied).cte("iv")
    # Inlined on PostgreSQL so the planner sees the tables' statistics, not a guess.
    return cte.prefix_with("NOT MATERIALIZED", dialect="postgresql")


def _runs(sql: Sql, *, start: datetime, until: datetime, now: datetime,
          user_ids: Sequence[uuid.UUID] | None, name: str) -> Any:
    """The month's runs as (user_id, project_id, rs, re) in epoch seconds, cut at the month's
    edges and at their billed end (rule 13 for runs still open)."""
    ur = Run.__table__.c
    s_epoch, u_epoch, n_epoch = _epoch_of(start), _epoch_of(until), _epoch_of(now)
    # The last sign of life (`runs.last_sign_of_life`), never before the start.
    last = sql.greatest(sql.epoch(last_sign_of_life_sql(Run.__table__)),
                        sql.epoch(ur.started_at))
    run_end = sa.case(
        (ur.ended_at.is_not(None), sql.epoch(ur.ended_at)),
        (last >= n_epoch - int(HEARTBEAT_TIMEOUT.total_seconds()), n_epoch),
        else_=last)
    runs = sa.select(
        ur.user_id.label("user_id"), ur.project_id.label("project_id"),
        sql.greatest(sql.epoch(ur.started_at), s_epoch).label("rs"),
        sql.least(run_end, u_epoch).label("re"),
    ).where(ur.started_at < _ts(until), sa.or_(ur.ended_at.is_(None), ur.ended_at > _ts(start)))
    if user_ids is not None:
        runs = runs.where(ur.user_id.in_(user_ids))
    return runs.subquery(name)


def _compute_rows(sql: Sql, iv: Any, *, start: datetime, until: datetime, now: datetime,
                  user_ids: Sequence[uuid.UUID] | None) -> Any:
    """Compute pieces (user_id, project_id, paid, free, 0): each run cut at the edges of the
    intervals it overlaps."""
    runs = _runs(sql, start=start, until=until, now=now, user_ids=user_ids, name="r")
    # A run whose billed end is not after its start overlaps nothing: clamp to 0 seconds.
    seconds = sql.greatest(sql.least(runs.c.re, iv.c.e) - sql.greatest(runs.c.rs, iv.c.s), 0)
    paid = iv.c.plan.in_(PAID_PLAN_KEYS)
    return sa.select(
        runs.c.user_id.label("user_id"), runs.c.project_id.label("project_id"),
        sa.case((paid, seconds), else_=0).label("paid"),
        sa.case((paid, 0), else_=seconds).label("free"),
        sql.big(sa.literal(0, sa.BigInteger)).label("byte_seconds"),
    ).select_from(runs.join(iv, sa.and_(iv.c.user_id == runs.c.user_id, iv.c.s < runs.c.re,
                                        iv.c.e > runs.c.rs)))


def _storage_rows(sql: Sql, iv: Any, *, start: datetime, until: datetime,
                  user_ids: Sequence[uuid.UUID] | None) -> Any:
    ss, pj = StorageSample.__table__.c, Project.__table__.c
    at = sql.epoch(ss.at)
    steps = sa.select(
        ss.user_id.label("user_id"), ss.project_id.label("project_id"),
        ss.bytes_used.label("b"), at.label("a"),
        sa.func.lead(at).over(partition_by=ss.project_id, order_by=(ss.at, ss.id)).label("nxt"),
    ).where(ss.at < _ts(until))
    if user_ids is not None:
        steps = steps.where(ss.user_id.in_(user_ids))
    steps = steps.subquery("st")
    s_epoch, u_epoch = _epoch_of(start), _epoch_of(until)
    clipped = sa.select(
        steps.c.user_id, steps.c.project_id, steps.c.b,
        sql.greatest(steps.c.a, s_epoch).label("lo"),
        sql.least(sa.func.coalesce(steps.c.nxt, FAR),
                  sa.func.coalesce(sql.epoch(pj.deleted_at), FAR), u_epoch).label("hi"),
    ).select_from(steps.join(Project.__table__, pj.id == steps.c.project_id)).where(
        steps.c.b > 0, sa.func.coalesce(steps.c.nxt, FAR) > s_epoch).subquery("cl")
    seconds = sql.least(clipped.c.hi, iv.c.e) - sql.greatest(clipped.c.lo, iv.c.s)
    return sa.select(
        clipped.c.user_id.label("user_id"), clipped.c.project_id.label("project_id"),
        sa.literal(0, sa.BigInteger).label("paid"), sa.literal(0, sa.BigInteger).label("free"),
        (sql.big(clipped.c.b) * seconds).label("byte_seconds"),
    ).select_from(clipped.join(iv, sa.and_(
        iv.c.user_id == clipped.c.user_id, iv.c.plan.in_(PAID_PLAN_KEYS),
        iv.c.s < clipped.c.hi, iv.c.e > clipped.c.lo, clipped.c.hi > clipped.c.lo)))


def _grouped(rows: Any) -> Any:
    """Pieces added up per user and project."""
    return sa.select(
        rows.c.user_id, rows.c.project_id, sa.func.sum(rows.c.paid).label("paid"),
        sa.func.sum(rows.c.free).label("free"),
        sa.func.sum(rows.c.byte_seconds).label("byte_seconds"),
    ).group_by(rows.c.user_id, rows.c.project_id)


def _usage_rows(session: Session, sql: Sql, iv: Any, **kw: Any) -> Iterator[Any]:
    """(user_id, project_id, name, paid, free, byte_seconds) per user and project, by user:
    the pieces of runs and storage steps inside the month's intervals, added up in one
    GROUP BY."""
    compute = _grouped(_compute_rows(sql, iv, **kw).subquery("cp"))
    storage = _grouped(_storage_rows(sql, iv, start=kw["start"], until=kw["until"],
                                     user_ids=kw["user_ids"]).subquery("sp"))
    # Each side is added up per user and project first (a few rows per user), so the union
    # and the final GROUP BY see two small sets, not every run piece.
    pieces = sa.union_all(compute, storage).subquery("pieces")
    totals = sa.select(
        pieces.c.user_id, pieces.c.project_id,
        sa.func.sum(pieces.c.paid).label("paid"), sa.func.sum(pieces.c.free).label("free"),
        sa.func.sum(pieces.c.byte_seconds).label("byte_seconds"),
    ).group_by(pieces.c.user_id, pieces.c.project_id).subquery("totals")
    pj = Project.__table__.c
    stmt = sa.select(
        totals.c.user_id, totals.c.project_id, pj.name, totals.c.paid, totals.c.free,
        totals.c.byte_seconds,
    ).select_from(totals.join(Project.__table__, pj.id == totals.c.project_id)
                  ).order_by(totals.c.user_id, totals.c.project_id)
    result = session.execute(stmt, execution_options=STREAM)
    try:
        yield from result
    finally:
        result.close()


def period_bills(session: Session, *, month: date, now: datetime,
                 user_ids: Sequence[uuid.UUID] | None = None) -> Iterator[PeriodBill]:
    """Every user's bill of `month` (or those in `user_ids`), in user id order.

    Usage counts up to the month's end, or up to `now` while the month runs. Two streamed
    queries (intervals, usage per user and project), so memory stays bounded."""
    sql = Sql(session)
    start, end = month_start(month), month_end(month)
    until = usage_end(month, now)
    ids = list(user_ids) if user_ids is not None else None
    iv = _intervals_cte(sql, start=start, end=end, user_ids=ids)
    interval_rows = session.execute(
        sa.select(iv.c.user_id, iv.c.plan, iv.c.s, iv.c.e).order_by(iv.c.user_id, iv.c.s),
        execution_options=STREAM)
    usage = _usage_rows(session, sql, iv, start=start, until=until, now=whole_second(now),
                        user_ids=ids)
    try:
        yield from _merge(interval_rows, usage, month=month, now=now)
    finally:
        usage.close()
        interval_rows.close()


def _merge(interval_rows: Any, usage: Iterator[Any], *, month: date,
           now: datetime) -> Iterator[PeriodBill]:
    """Both streams come in user order: price each user as their intervals go by."""
    pending = next(usage, None)
    for user_id, rows in groupby(interval_rows, key=lambda r: r[0]):
        intervals = [PlanInterval(plan=r[1], start=_dt(r[2]), end=None if r[3] >= FAR
                                  else _dt(r[3])) for r in rows]
        items = []
        while pending is not None and pending[0] <= user_id:
            if pending[0] == user_id:
                items.append(ProjectUsage(project_id=pending[1], name=pending[2] or "",
                                          paid_compute_seconds=int(pending[3]),
                                          free_compute_seconds=int(pending[4]),
                                          paid_storage_byte_seconds=int(pending[5])))
            pending = next(usage, None)
        yield build_period_bill(user_id=user_id, month=month, intervals=intervals,
                                usage=items, now=now)


def period_bill(session: Session, *, user_id: uuid.UUID, month: date,
                now: datetime) -> PeriodBill:
    """One user's bill of `month`, as `period_bills` computes it."""
    bills = period_bills(session, month=month, now=now, user_ids=[user_id])
    try:
        bill = next(bills, None)
    finally:
        bills.close()  # closes its cursors now, not when the generator is collected
    if bill is not None:
        return bill
    return build_period_bill(user_id=user_id, month=month,
                             intervals=[PlanInterval(PlanKey.FREE, HISTORY_START)], usage=[], now=now)


def _dt(epoch: int) -> datetime:
    from datetime import UTC

    return datetime.fromtimestamp(int(epoch), tz=UTC)
