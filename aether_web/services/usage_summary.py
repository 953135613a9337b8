"""The usage summary a signed-in user sees (GET /api/billing/usage, the PRD's API shape)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.billing.limits import usage_level, usage_percent
from aether_web.billing.periods import month_key, month_last_second, month_of, month_start
from aether_web.billing.plans import BYTES_PER_GB, SECONDS_PER_HOUR, get_plan
from aether_web.billing.pricing import (
    STORAGE_GB_HOURS_PER_GB_MONTH,
    format_cents,
    overage_for_month,
)
from aether_web.db import db_now
from aether_web.errors import NotFound
from aether_web.models import Profile, UsageMonthly
from aether_web.services.projects import count_projects
from aether_web.services.usage import compute_seconds_used, storage_status

HISTORY_MONTHS = 12


def _floor(value: Decimal | float, places: str = "0.01") -> float:
    return float(Decimal(value).quantize(Decimal(places), rounding=ROUND_FLOOR))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _reported_overage_cents(session: Session, *, user_id: uuid.UUID) -> dict:
    """Per month, the overage cents sent (or queued) to Stripe's meters for this user."""
    try:
        from aether_web.models import OverageReport
    except ImportError:  # billing tables absent: nothing has been reported
        return {}
    rows = session.exec(
        select(OverageReport.month, sa.func.sum(OverageReport.cents))
        .where(OverageReport.user_id == user_id).group_by(OverageReport.month)
    ).all()
    return {month: int(cents or 0) for month, cents in rows}


def usage_summary(session: Session, *, user_id: uuid.UUID, now: datetime | None = None) -> dict:
    """Plan, this UTC month's period, limits, usage with percentages and levels, and up to 12
    months of history with each month's overage cost (priced on the current plan).

    Hours and GB are floored to two decimals, so a display never shows more than was used.
    """
    profile = session.get(Profile, user_id)
    if profile is None:
        raise NotFound("Account not found.")
    now = (now or db_now(session)).replace(microsecond=0)
    plan = get_plan(profile.plan)
    month = month_of(now)
    compute_seconds = compute_seconds_used(session, user_id=user_id, now=now)
    storage = storage_status(session, user_id=user_id, additional_bytes=0)
    storage_gb = Decimal(storage["storage_bytes"]) / BYTES_PER_GB
    projects = count_projects(session, user_id=user_id)

    rows = session.exec(
        select(UsageMonthly).where(UsageMonthly.user_id == user_id)
        .order_by(UsageMonthly.month.desc()).limit(HISTORY_MONTHS)
    ).all()
    by_month = {row.month: row for row in rows}
    by_month.setdefault(month, None)
    billed = _reported_overage_cents(session, user_id=user_id)
    history = []
    for key in sorted(by_month, reverse=True)[:HISTORY_MONTHS]:
        row = by_month[key]
        seconds = compute_seconds if key == month else int(row.compute_seconds if row else 0)
        gb_hours = Decimal(row.storage_gb_hours) if row else Decimal(0)
        charge = overage_for_month(plan, compute_seconds=seconds, storage_gb_hours=gb_hours)
        # A month already reported to Stripe shows exactly what Stripe was sent to invoice.
        cents = billed.get(key, charge.total_cents)
        history.append({
            "month": month_key(key),
            "compute_hours": _floor(Decimal(seconds) / SECONDS_PER_HOUR),
            "storage_gb": _floor(gb_hours / STORAGE_GB_HOURS_PER_GB_MONTH),
            "overage_cost": cents / 100,
            "overage_cents": cents,
            "overage_display": format_cents(cents),
            "overage_explanation": charge.explanation(),
            "overage_reported": key in billed,
        })
    return {
        "plan": plan.key,
        "period": {"start": _iso(month_start(month)), "end": _iso(month_last_second(month))},
        "limits": {"compute_hours": plan.compute_hours, "storage_gb": plan.storage_gb,
                   "max_projects": plan.max_projects},
        "usage": {
            "compute_hours": _floor(Decimal(compute_seconds) / SECONDS_PER_HOUR),
            "compute_seconds": compute_seconds,
            "compute_percent": usage_percent(compute_seconds, plan.compute_seconds),
            "compute_level": usage_level(compute_seconds, plan.compute_seconds),
            "storage_gb": _floor(storage_gb),
            "storage_bytes": storage["storage_bytes"],
            "storage_percent": usage_percent(float(storage_gb), plan.storage_gb),
            "storage_level": usage_level(float(storage_gb), plan.storage_gb),
            "project_count": projects,
        },
        "history": history,
    }
