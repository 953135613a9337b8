"""The explanation of a period's bill (`PeriodBill.explanation`, rule 17): one sentence per
plan interval, then what is included, what was counted and the overage priced. No I/O."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from aether_web.billing.money import format_cents, format_duration, format_gb_hours
from aether_web.billing.periods import month_end, month_start
from aether_web.billing.plan_history import PlanInterval

if TYPE_CHECKING:
    from aether_web.billing.period_bill import PeriodBill


def _share_text(iv: PlanInterval, month: date) -> str:
    days = (month_end(month) - month_start(month)).days
    if iv.seconds % 86400 == 0:
        return f"{iv.seconds // 86400}/{days} of the month"
    return f"{format_duration(iv.seconds)} of the month's {days} days"


def explain(bill: PeriodBill) -> tuple[str, ...]:
    """The bill in sentences a user can check by hand (rule 17): each plan interval and what
    it includes, the included and counted amounts, the overage and its price."""
    lines = []
    for iv in bill.intervals:
        plan = iv.plan_info
        span = f"{plan.name} {iv.start:%b %-d %H:%M} to {iv.end:%b %-d %H:%M} UTC"
        if iv.paid:
            lines.append(
                f"{span}: {plan.compute_hours} h x {_share_text(iv, bill.month)} of compute "
                f"and {plan.storage_gb} GB x {format_duration(iv.seconds)} of storage included")
        else:
            lines.append(f"{span}: Free, no allowance and no overage")
    lines.append(f"Included: {format_duration(bill.included_compute_seconds)} of compute "
                 f"(rounded up to the second), {format_gb_hours(bill.included_storage_gb_hours)}"
                 f" of storage ({bill.month_hours} GB-hours make a GB-month this month)")
    lines.append(f"Counted on paid plans: {format_duration(bill.counted_compute_seconds)} of "
                 f"compute, {format_gb_hours(bill.counted_storage_gb_hours)} of storage")
    if bill.free_compute_seconds:
        lines.append(f"Used on Free (not counted against a paid allowance): "
                     f"{format_duration(bill.free_compute_seconds)}")
    charge = bill.overage
    lines.append(f"Compute overage: {format_duration(charge.compute_overage_seconds)} = "
                 f"{charge.compute_units} units of 6 minutes = {format_cents(charge.compute_cents)}")
    lines.append(f"Storage overage: {format_gb_hours(charge.storage_overage_gb_hours)} at $0.50 "
                 f"per {bill.month_hours} GB-hours = {format_cents(charge.storage_cents)}")
    lines.append(f"Overage total: {format_cents(charge.total_cents)}")
    return tuple(lines)
