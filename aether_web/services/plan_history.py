"""Plan history: the one way a user's plan changes, recording the interval it starts.

`change_plan` closes the open interval and opens the next at the same instant, in the caller's
transaction, under the user's write lock: intervals never overlap and leave no gap.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.billing.plan_history import (
    CAUSES,
    HISTORY_START,
    PlanInterval,
    whole_second,
)
from aether_web.billing.plans import PLANS, PlanKey
from aether_web.db import db_now
from aether_web.errors import InvalidInput
from aether_web.models import PlanIntervalRow, Profile


def _open_interval(session: Session, user_id: uuid.UUID) -> PlanIntervalRow | None:
    return session.exec(select(PlanIntervalRow).where(
        PlanIntervalRow.user_id == user_id, PlanIntervalRow.ended_at.is_(None))).first()


def start_history(session: Session, *, profile: Profile, at: datetime = HISTORY_START,
                  cause: str = "signup") -> PlanIntervalRow:
    """Open a new user's first interval: their current plan, from HISTORY_START by default,
    so the history covers all time and no usage ever falls outside it."""
    session.flush()
    at = whole_second(at)
    row = PlanIntervalRow(user_id=profile.id, plan=profile.plan, started_at=at, cause=cause)
    session.add(row)
    session.flush()
    return row


def change_plan(session: Session, *, profile: Profile, plan: str, cause: str,
                at: datetime | None = None) -> str | None:
    """Put the user on `plan` from `at` (database time by default). Returns the plan held
    before, or None if the user is on `plan` already (nothing written).

    Takes the user's write lock and re-reads the plan under it, sets `profiles.plan`, closes
    the open interval at `at` and opens one for `plan`. A change within the same second as
    the last replaces that interval's plan. The caller owns the transaction (and tells the
    user)."""
    if plan not in PLANS:
        raise InvalidInput(f"Unknown plan {plan!r}.", code="invalid_plan")
    if cause not in CAUSES:
        raise ValueError(f"unknown cause of a plan change: {cause!r}")
    from aether_web.services.accounts import lock_profile

    if profile.plan == plan:
        return None  # nothing to change: no lock, no read, no write
    lock_profile(session, user_id=profile.id)
    # Another transaction may have changed the plan while we waited for the lock.
    session.refresh(profile, attribute_names=["plan"])
    before = profile.plan
    current = _open_interval(session, profile.id)
    if profile.plan == plan and (current is None or current.plan == plan):
        return None
    at = whole_second(at or db_now(session))
    if current is None:
        current = start_history(session, profile=profile, at=HISTORY_START, cause="backfill")
    at = max(at, current.started_at)
    if at == current.started_at:
        current.plan, current.cause = plan, cause
        session.add(current)
    else:
        current.ended_at, current.ended_by = at, cause
        session.add(current)
        session.flush()
        session.add(PlanIntervalRow(user_id=profile.id, plan=plan, started_at=at, cause=cause))
    profile.plan = plan
    profile.updated_at = db_now(session)
    session.add(profile)
    session.flush()
    return before


def plan_intervals(session: Session, *, user_id: uuid.UUID,
                   start: datetime | None = None,
                   end: datetime | None = None) -> list[PlanInterval]:
    """The user's intervals overlapping [start, end) (all by default), oldest first. A user
    with no recorded history holds their current plan since HISTORY_START."""
    query = select(PlanIntervalRow).where(PlanIntervalRow.user_id == user_id)
    if end is not None:
        query = query.where(PlanIntervalRow.started_at < end)
    if start is not None:
        query = query.where(sa.or_(PlanIntervalRow.ended_at.is_(None),
                                   PlanIntervalRow.ended_at > start))
    rows = session.exec(query.order_by(PlanIntervalRow.started_at)).all()
    if rows:
        return [_to_interval(r) for r in rows]
    profile = session.get(Profile, user_id)
    plan = profile.plan if profile is not None else PlanKey.FREE
    return [PlanInterval(plan=plan, start=HISTORY_START, end=None, cause="backfill")]


def _to_interval(row: PlanIntervalRow) -> PlanInterval:
    return PlanInterval(plan=row.plan, start=row.started_at, end=row.ended_at, cause=row.cause)


def to_intervals(rows: Iterable[PlanIntervalRow]) -> list[PlanInterval]:
    """Rows as pure intervals."""
    return [_to_interval(r) for r in rows]
