"""One computation per user and UTC month: every display, email and the month end read it.

The per-user inputs are aggregated in the database for all users at once: plan intervals are
clamped to the month in SQL, each run is cut at the interval and month edges there, storage
samples become a step function with a window function, and only one row per user and project
comes back, streamed in user order (bounded memory). The pure rules in
`billing.period_bill.build_period_bill` then price each user.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from aether_web.billing.period_bill import PeriodBill, ProjectUsage, build_period_bill, usage_end
from aether_web.billing.periods import month_end, month_start
from aether_web.billing.plan_history import HISTORY_START, PlanInterval, whole_second
from aether_web.billing.plans import PAID_PLAN_KEYS, PlanKey
from aether_web.db import Sql, stream_rows, without_jit
from aether_web.models import PlanIntervalRow, Profile, Project, Run, StorageSample
from aether_web.models.types import UTCDateTime
from aether_web.services.runs import HEARTBEAT_TIMEOUT, last_sign_of_life_sql

FAR = 253402300799  # 9999-12-31T23:59:59Z as epoch seconds: "no end"


def _ts(name: str) -> Any:
    return sa.bindparam(name, type_=UTCDateTime())


def _epoch(name: str) -> Any:
    return sa.bindparam(name, type_=sa.BigInteger())


def _epoch_of(value: datetime) -> int:
    return int(whole_second(value).timestamp())


def _for_users(query: Any, column: Any, *, some: bool) -> Any:
    return query.where(column.in_(sa.bindparam("user_ids", expanding=True))) if some else query


def _intervals_cte(sql: Sql, *, some: bool) -> Any:
    """The month's plan intervals as (user_id, plan, s, e) in epoch seconds; a user with no
    recorded history holds their profile's plan since `HISTORY_START`."""
    pi = PlanIntervalRow.__table__.c
    recorded = _for_users(sa.select(
        pi.user_id.label("user_id"), pi.plan.label("plan"),
        sql.epoch(pi.started_at).label("s"),
        sa.func.coalesce(sql.epoch(pi.ended_at), FAR).label("e"),
    ).where(pi.started_at < _ts("end"),
            sa.or_(pi.ended_at.is_(None), pi.ended_at > _ts("start"))), pi.user_id, some=some)
    pr = Profile.__table__.c
    has_history = sa.exists().where(pi.user_id == pr.id)
    implied = _for_users(sa.select(
        pr.id.label("user_id"), pr.plan.label("plan"),
        sa.literal(_epoch_of(HISTORY_START), sa.BigInteger).label("s"),
        sa.literal(FAR, sa.BigInteger).label("e"),
    ).where(~has_history), pr.id, some=some)
    cte = sa.union_all(recorded, implied).cte("iv")
    # Inlined on PostgreSQL so the planner sees the tables' statistics, not a guess.
    return cte.prefix_with("NOT MATERIALIZED", dialect="postgresql")


def _runs(sql: Sql, *, some: bool, name: str) -> Any:
    """The month's runs as (user_id, project_id, rs, re) in epoch seconds, cut at the month's
    edges and at their billed end (rule 13 for runs still open)."""
    ur = Run.__table__.c
    # The last sign of life (`runs.last_sign_of_life`), never before the start.
    last = sql.greatest(sql.epoch(last_sign_of_life_sql(Run.__table__)),
                        sql.epoch(ur.started_at))
    run_end = sa.case(
        (ur.ended_at.is_not(None), sql.epoch(ur.ended_at)),
        (last >= _epoch("alive_since"), _epoch("now_epoch")),
        else_=last)
    runs = _for_users(sa.select(
        ur.user_id.label("user_id"), ur.project_id.label("project_id"),
        sql.greatest(sql.epoch(ur.started_at), _epoch("start_epoch")).label("rs"),
        sql.least(run_end, _epoch("until_epoch")).label("re"),
    ).where(ur.started_at < _ts("until"), sa.or_(ur.ended_at.is_(None),
                                                 ur.ended_at > _ts("start"))),
        ur.user_id, some=some)
    return runs.subquery(name)


def _compute_rows(sql: Sql, iv: Any, *, some: bool) -> Any:
    """Compute pieces (user_id, project_id, paid, free, 0): each run cut at the edges of the
    intervals it overlaps."""
    runs = _runs(sql, some=some, name="r")
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


def _storage_rows(sql: Sql, iv: Any, *, some: bool) -> Any:
    ss, pj = StorageSample.__table__.c, Project.__table__.c
    at = sql.epoch(ss.at)
    steps = _for_users(sa.select(
        ss.user_id.label("user_id"), ss.project_id.label("project_id"),
        ss.bytes_used.label("b"), at.label("a"),
        sa.func.lead(at).over(partition_by=ss.project_id, order_by=(ss.at, ss.id)).label("nxt"),
    ).where(ss.at < _ts("until")), ss.user_id, some=some).subquery("st")
    clipped = sa.select(
        steps.c.user_id, steps.c.project_id, steps.c.b,
        sql.greatest(steps.c.a, _epoch("start_epoch")).label("lo"),
        sql.least(sa.func.coalesce(steps.c.nxt, FAR),
                  sa.func.coalesce(sql.epoch(pj.deleted_at), FAR),
                  _epoch("until_epoch")).label("hi"),
    ).select_from(steps.outerjoin(  # a deleted project's steps end at its deletion
        Project.__table__, sa.and_(pj.id == steps.c.project_id, pj.deleted_at.is_not(None)))
    ).where(steps.c.b > 0, sa.func.coalesce(steps.c.nxt, FAR) > _epoch("start_epoch")
    ).subquery("cl")
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


def _usage_statement(sql: Sql, iv: Any, *, some: bool) -> Any:
    """(user_id, project_id, name, paid, free, byte_seconds) per user and project: the pieces
    of runs and storage steps inside the month's intervals, added up in one GROUP BY."""
    compute = _grouped(_compute_rows(sql, iv, some=some).subquery("cp"))
    storage = _grouped(_storage_rows(sql, iv, some=some).subquery("sp"))
    # Each side is added up per user and project first (a few rows per user), so the union
    # and the final GROUP BY see two small sets, not every run piece.
    pieces = sa.union_all(compute, storage).subquery("pieces")
    totals = sa.select(
        pieces.c.user_id, pieces.c.project_id,
        sa.func.sum(pieces.c.paid).label("paid"), sa.func.sum(pieces.c.free).label("free"),
        sa.func.sum(pieces.c.byte_seconds).label("byte_seconds"),
    ).group_by(pieces.c.user_id, pieces.c.project_id).subquery("totals")
    pj = Project.__table__.c
    return sa.select(
        totals.c.user_id, totals.c.project_id, pj.name, totals.c.paid, totals.c.free,
        totals.c.byte_seconds,
    ).select_from(totals.join(Project.__table__, pj.id == totals.c.project_id))


# What a row of the bills statement is: one of the user's plan intervals, or the usage of one
# of the user's projects. Intervals come first.
INTERVAL, USAGE = 0, 1


@functools.cache
def _statement(pg: bool, some: bool) -> Any:
    """The one query of every bill (built once per dialect and per "all users or some": each
    call only binds its month, clock and users). By user, then kind: each of the user's plan
    intervals inside the month (user_id, INTERVAL, plan, s, e, then NULLs), then the usage
    of each of the user's projects (user_id, USAGE, NULL, NULL, NULL, project_id, name,
    paid, free, byte_seconds)."""
    sql = Sql.for_dialect(pg=pg)
    iv = _intervals_cte(sql, some=some)
    usage = _usage_statement(sql, iv, some=some).subquery("usage")

    def null(type_: Any) -> Any:
        return sa.cast(sa.null(), type_)

    rows = sa.union_all(
        # Clamped to the month here, as `build_period_bill` would (an open one ends with it).
        sa.select(iv.c.user_id, sa.literal(INTERVAL).label("kind"), iv.c.plan,
                  sql.greatest(iv.c.s, _epoch("start_epoch")).label("s"),
                  sql.least(iv.c.e, _epoch("end_epoch")).label("e"),
                  # The union's types are this SELECT's: the usage columns' own (a float on
                  # the way would round byte-seconds past 2^53 on SQLite).
                  *(null(usage.c[name].type).label(name) for name in (
                      "project_id", "name", "paid", "free", "byte_seconds"))),
        sa.select(usage.c.user_id, sa.literal(USAGE), null(sa.String()),
                  null(sa.BigInteger()), null(sa.BigInteger()), usage.c.project_id,
                  usage.c.name, usage.c.paid, usage.c.free, usage.c.byte_seconds),
    ).subquery("rows")
    return sa.select(*rows.c).order_by(rows.c.user_id, rows.c.kind, rows.c.s,
                                        rows.c.project_id)


def _params(*, month: date, now: datetime,
            user_ids: Sequence[uuid.UUID] | None) -> dict[str, Any]:
    start, until, moment = month_start(month), usage_end(month, now), whole_second(now)
    params: dict[str, Any] = {
        "start": start, "end": month_end(month), "until": until,
        "start_epoch": _epoch_of(start), "end_epoch": _epoch_of(month_end(month)),
        "until_epoch": _epoch_of(until),
        "now_epoch": _epoch_of(moment),
        "alive_since": _epoch_of(moment) - int(HEARTBEAT_TIMEOUT.total_seconds()),
    }
    if user_ids is not None:
        params["user_ids"] = list(user_ids)
    return params


def period_bills(session: Session, *, month: date, now: datetime,
                 user_ids: Sequence[uuid.UUID] | None = None) -> Iterator[PeriodBill]:
    """Every user's bill of `month` (or those in `user_ids`), in user id order.

    Usage counts up to the month's end, or up to `now` while the month runs. One query,
    streamed when it covers more than one user (`db.stream_rows`), so memory stays bounded;
    the session runs nothing else until the bills are read."""
    ids = list(user_ids) if user_ids is not None else None
    if ids == []:
        return
    statement = _statement(Sql(session).pg, ids is not None)
    params = _params(month=month, now=now, user_ids=ids)
    if ids is not None and len(ids) == 1:  # a few rows: streaming would only add round trips
        yield from _price(session.execute(statement, params), month=month, now=now)
        return
    without_jit(session)
    rows = stream_rows(session, statement, params)
    try:
        yield from _price(rows, month=month, now=now)
    finally:
        rows.close()


def _price(rows: Iterable[Any], *, month: date, now: datetime) -> Iterator[PeriodBill]:
    """Price each user as their rows go by (they come by user, intervals first)."""
    for user_id, group in groupby(rows, key=itemgetter(0)):
        intervals: list[PlanInterval] = []
        items: list[ProjectUsage] = []
        for row in group:
            if row[1] == INTERVAL:
                intervals.append(PlanInterval(plan=row[2], start=_dt(row[3]), end=_dt(row[4])))
            else:
                items.append(ProjectUsage(project_id=row[5], name=row[6] or "",
                                          paid_compute_seconds=int(row[7]),
                                          free_compute_seconds=int(row[8]),
                                          paid_storage_byte_seconds=int(row[9])))
        if intervals:
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


@functools.lru_cache(maxsize=4096)  # most intervals start or end with the month
def _dt(epoch: int) -> datetime:
    return datetime.fromtimestamp(int(epoch), tz=UTC)
