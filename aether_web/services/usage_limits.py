"""The plan's limits on usage: Free's compute cap (counted from the period bill, policy rule 6)
and storage cap, asked before a VM starts or writes, and enforced on running VMs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from aether_web.billing.limits import WARNING_RATIO, can_start_vm
from aether_web.billing.periods import month_of
from aether_web.billing.plans import BYTES_PER_GB, get_plan
from aether_web.db import Sql
from aether_web.errors import InvalidInput, LimitReached, NotFound
from aether_web.models import Profile, Project, Run
from aether_web.services.hook_events import billed_now, find_project
from aether_web.services.period_bill import period_bill, period_bills


def compute_seconds_used(session: Session, *, user_id: uuid.UUID,
                         now: datetime | None = None) -> int:
    """This UTC month's compute seconds used while on Free: what the Free cap counts (policy
    rule 6). From the month's period bill (`services.period_bill`), so runs are cut at the
    plan intervals as billing cuts them, and an open run counts to now (a silent one only to
    its last sign of life). Hours used on a paid plan earlier in the month never count."""
    return free_seconds_used(session, user_ids=[user_id], now=now).get(user_id, 0)


def free_seconds_used(session: Session, *, user_ids: list[uuid.UUID],
                      now: datetime | None = None) -> dict[uuid.UUID, int]:
    """`compute_seconds_used` for several users at once (one batched period computation)."""
    now = billed_now(session, now)
    if not user_ids:
        return {}
    bills = period_bills(session, month=month_of(now), now=now, user_ids=user_ids)
    try:
        return {bill.user_id: bill.free_compute_seconds for bill in bills}
    finally:
        bills.close()


def authorize_start(session: Session, *, project_id: Any, now: datetime | None = None) -> dict:
    """May this project's VM start? NotFound for an unknown or deleted project, LimitReached
    (`compute_limit_reached`) for a Free user whose hours are used up."""
    project = find_project(session, project_id, lock=False)
    if project.deleted_at is not None:
        raise NotFound("No project has this id.", code="project_not_found")
    profile = session.get(Profile, project.user_id)
    plan = get_plan(profile.plan if profile else None)
    now = billed_now(session, now)
    bill = period_bill(session, user_id=project.user_id, month=month_of(now), now=now)
    # Free: the month's usage while on Free (the cap, rule 6); paid: all of the month's usage.
    used = bill.used_compute_seconds if plan.is_paid else bill.free_compute_seconds
    if not can_start_vm(plan, used):
        raise LimitReached(
            f"You've used all {plan.compute_hours} compute hours of the {plan.name} plan this "
            "month. Upgrade to Pro to keep building.", code="compute_limit_reached")
    return {"allowed": True, "compute_seconds_used": used,
            "compute_seconds_limit": None if plan.is_paid else plan.compute_seconds}


def storage_status(session: Session, *, user_id: uuid.UUID, additional_bytes: int) -> dict:
    """The user's stored bytes against the plan: `allowed` to write `additional_bytes` more,
    and why (`ok`, `storage_near_limit` from 80%, `storage_limit_reached`). Paid plans may
    always write (overage)."""
    total = int(session.exec(
        select(Sql(session).big_sum(Project.storage_bytes))
        .where(Project.user_id == user_id, Project.deleted_at.is_(None))
    ).one())
    profile = session.get(Profile, user_id)
    plan = get_plan(profile.plan if profile else None)
    limit = plan.storage_gb * BYTES_PER_GB
    after = total + max(0, additional_bytes)
    if plan.is_paid:
        allowed, reason = True, "ok"
    elif after > limit or (total >= limit and additional_bytes > 0):
        allowed, reason = False, "storage_limit_reached"
    elif total >= limit:
        allowed, reason = True, "storage_limit_reached"
    elif after >= limit * WARNING_RATIO:
        allowed, reason = True, "storage_near_limit"
    else:
        allowed, reason = True, "ok"
    return {"allowed": allowed, "reason": reason, "storage_bytes": total,
            "limit_bytes": None if plan.is_paid else limit}


def check_storage(session: Session, *, project_id: Any, additional_bytes: Any) -> dict:
    """May this project write `additional_bytes` more? Free plans warn from 80% of the cap and
    refuse past it; paid plans always may. NotFound for an unknown or deleted project."""
    if isinstance(additional_bytes, bool) or not isinstance(additional_bytes, int) \
            or additional_bytes < 0:
        raise InvalidInput("additional_bytes must be a whole number of bytes, 0 or more.",
                           code="invalid_additional_bytes")
    project = find_project(session, project_id, lock=False)
    if project.deleted_at is not None:
        raise NotFound("No project has this id.", code="project_not_found")
    return storage_status(session, user_id=project.user_id, additional_bytes=additional_bytes)


def free_users_over_cap(session: Session, *, now: datetime | None = None) -> list[uuid.UUID]:
    """Free users with a running VM who have used the month's compute hours on Free."""
    now = billed_now(session, now)
    users = list(session.exec(
        select(Run.user_id).distinct()
        .join(Profile, Profile.id == Run.user_id)
        .where(Run.ended_at.is_(None), Profile.plan == "free")
    ).all())
    used = free_seconds_used(session, user_ids=users, now=now)
    free = get_plan("free")
    return [u for u in users if not can_start_vm(free, used.get(u, 0))]
