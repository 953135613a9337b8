"""Storage: the `storage` hook's samples, and the GB-hours they accrue into `usage_monthly`.

A project's size applies from the moment it is reported until the next report (or the
project's deletion); storage up to a new report is accrued at the previous size first, so a
new size never applies to the past. The period bill reads the samples (`StorageSample`, a
step function); `usage_monthly` keeps the running GB-hours per UTC month.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.billing.periods import split_seconds_by_month
from aether_web.billing.plans import BYTES_PER_GB, SECONDS_PER_HOUR
from aether_web.errors import InvalidInput
from aether_web.models import Project, StorageSample
from aether_web.services.hook_events import (
    PROJECT_DELETED,
    HookAnswer,
    billed_now,
    earlier_answer,
    find_project,
    remember_answer,
)
from aether_web.services.usage_limits import storage_status
from aether_web.services.usage_monthly import add_to_month

GB_HOURS_QUANTUM = Decimal("0.0001")
STORAGE_RECORDED = "storage_recorded"


def record_storage(
    session: Session, *, event_id: str, project_id: Any, bytes_used: int,
    now: datetime | None = None,
) -> HookAnswer:
    """The project's storage is now `bytes_used`. Storage up to now is accrued at the previous
    size first, so a new size never applies to the past."""
    if isinstance(bytes_used, bool) or not isinstance(bytes_used, int) or bytes_used < 0:
        raise InvalidInput("bytes_used must be a whole number of bytes, 0 or more.",
                           code="invalid_bytes_used")
    project = find_project(session, project_id, lock=True)
    if (seen := earlier_answer(session, project.id, event_id)) is not None:
        return seen
    now = billed_now(session, now)
    if project.deleted_at is not None:
        body: dict[str, Any] = {"recorded": False, "outcome": PROJECT_DELETED}
        return remember_answer(session, event_id=event_id, kind="storage", project=project,
                               machine_id="", outcome=PROJECT_DELETED, at=now, body=body)
    accrue_project_storage(session, project=project, until=now)
    project.storage_bytes = bytes_used
    project.storage_reported_at = now
    # The sample the period bill reads (a step function, split at plan interval edges).
    session.add(StorageSample(project_id=project.id, user_id=project.user_id, at=now,
                              bytes_used=bytes_used))
    project.storage_accrued_until = max(project.storage_accrued_until or now, now)
    session.add(project)
    session.flush()
    status = storage_status(session, user_id=project.user_id, additional_bytes=0)
    body = {"recorded": True, "outcome": STORAGE_RECORDED, "storage_bytes": bytes_used,
            "user_storage_bytes": status["storage_bytes"], "limit_bytes": status["limit_bytes"],
            "warning": status["reason"] if status["reason"] != "ok" else None}
    return remember_answer(session, event_id=event_id, kind="storage", project=project,
                           machine_id="", outcome=STORAGE_RECORDED, at=now, body=body)


def _gb_hours(storage_bytes: int, seconds: int) -> Decimal:
    exact = Decimal(storage_bytes) * seconds / (BYTES_PER_GB * SECONDS_PER_HOUR)
    return exact.quantize(GB_HOURS_QUANTUM, rounding=ROUND_FLOOR)


def accrue_project_storage(session: Session, *, project: Project, until: datetime) -> Decimal:
    """Add the project's GB-hours since it was last accrued (at its current size) up to
    `until` (or its deletion) to usage_monthly, split per UTC month."""
    start = project.storage_accrued_until or project.storage_reported_at
    end = until if project.deleted_at is None else min(until, project.deleted_at)
    if start is None or end <= start:
        return Decimal(0)
    total = Decimal(0)
    if project.storage_bytes > 0:
        for month, seconds in split_seconds_by_month(start, end).items():
            amount = _gb_hours(project.storage_bytes, seconds)
            if amount > 0:
                add_to_month(session, user_id=project.user_id, month=month,
                             storage_gb_hours=amount)
                total += amount
    project.storage_accrued_until = end
    session.add(project)
    return total


def accrue_storage(session: Session, *, now: datetime | None = None,
                   user_id: uuid.UUID | None = None) -> Decimal:
    """Accrue every project's storage up to now (only `user_id`'s projects when given: a
    bill of one user locks no other user's projects); returns the GB-hours added. Projects
    are locked in id order, so two accruals never wait on each other in a circle."""
    now = billed_now(session, now)
    query = select(Project.id).where(
        Project.storage_reported_at.is_not(None),
        sa.or_(Project.storage_accrued_until.is_(None),
               Project.storage_accrued_until < sa.func.coalesce(Project.deleted_at, now)))
    if user_id is not None:
        query = query.where(Project.user_id == user_id)
    ids = session.exec(query.order_by(Project.id)).all()
    total = Decimal(0)
    for project_id in ids:
        project = find_project(session, project_id, lock=True)
        total += accrue_project_storage(session, project=project, until=now)
    session.flush()
    return total
