"""The usage summary a signed-in user sees (GET /api/billing/usage, the PRD's API shape, plus
the breakdown of each month's bill). Every number comes from `services.period_bill`, the one
computation the month end sends to Stripe; past months show what was billed (rule 16)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.billing.limits import usage_level, usage_percent
from aether_web.billing.money import format_cents, format_duration, format_hours, hours_value
from aether_web.billing.period_bill import PeriodBill
from aether_web.billing.periods import (
    month_end,
    month_key,
    month_last_second,
    month_of,
    month_start,
    previous_month,
)
from aether_web.billing.plans import BYTES_PER_GB, get_plan
from aether_web.db import db_now
from aether_web.errors import NotFound
from aether_web.models import InvoiceRecord, OverageReport, Profile, Run, StorageSample
from aether_web.services.invoicing.invoiced import InvoicedMonth, invoiced_months
from aether_web.services.period_bill import period_bill
from aether_web.services.projects import count_projects
from aether_web.services.usage_limits import storage_status

HISTORY_MONTHS = 12
BILLED_STATUSES = ("invoiced", "item_billed")
SENT_STATUSES = ("pending", "accepted", "sent")


def _floor(value: Decimal | float, places: str = "0.01") -> float:
    from decimal import ROUND_FLOOR

    return float(Decimal(value).quantize(Decimal(places), rounding=ROUND_FLOOR))


def _iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def breakdown(bill: PeriodBill) -> dict:
    """A bill as JSON: intervals, included, counted, overage lines, projects, explanation."""
    return {
        "intervals": [{"plan": iv.plan, "start": _iso(iv.start), "end": _iso(iv.end),
                       "paid": iv.paid} for iv in bill.intervals],
        "included": {
            "compute_seconds": bill.included_compute_seconds,
            "compute_hours": _floor(hours_value(bill.included_compute_seconds)),
            "compute_display": format_duration(bill.included_compute_seconds),
            "storage_gb_hours": str(bill.included_storage_gb_hours),
            "storage_gb_months": _floor(bill.included_storage_gb_hours / bill.month_hours),
        },
        "counted": {
            "compute_seconds": bill.counted_compute_seconds,
            "compute_display": format_duration(bill.counted_compute_seconds),
            "free_compute_seconds": bill.free_compute_seconds,
            "storage_gb_hours": str(bill.counted_storage_gb_hours),
        },
        "month_hours": bill.month_hours,
        "overage": {
            "compute_seconds": bill.compute_overage_seconds,
            "compute_units": bill.compute_units, "compute_cents": bill.compute_cents,
            "storage_gb_hours": str(bill.storage_overage_gb_hours),
            "storage_units": bill.storage_units, "storage_cents": bill.storage_cents,
            "total_cents": bill.total_cents, "total_display": format_cents(bill.total_cents),
        },
        "projects": [{
            "project_id": str(p.project_id), "name": p.name,
            "compute_seconds": p.compute_seconds, "compute_display": format_hours(p.compute_seconds),
            "free_compute_seconds": p.free_compute_seconds,
            "storage_gb_hours": str(p.storage_gb_hours),
            "compute_cents": p.compute_cents, "storage_cents": p.storage_cents,
            "total_cents": p.total_cents, "total_display": format_cents(p.total_cents),
        } for p in bill.projects],
        "explanation": list(bill.explanation),
    }


def _reports(session: Session, user_id: uuid.UUID) -> dict[date, list[OverageReport]]:
    out: dict[date, list[OverageReport]] = {}
    for row in session.exec(select(OverageReport).where(OverageReport.user_id == user_id)):
        out.setdefault(row.month, []).append(row)
    return out


def _draft_invoice(session: Session, user_id: uuid.UUID, month: date) -> bool:
    return session.exec(select(InvoiceRecord.id).where(
        InvoiceRecord.user_id == user_id, InvoiceRecord.status == "draft",
        InvoiceRecord.period_start >= month_start(month),
        InvoiceRecord.period_start < month_end(month))).first() is not None


def month_status(session: Session, *, bill: PeriodBill, reports: list[OverageReport],
                 invoiced: InvoicedMonth | None = None) -> tuple[str, str, int]:
    """(status, why, cents shown) of a month: open (overage so far), billed (what the
    invoice holds, once reconciled: its lines and labelled items, rule 16), pending
    (reported, invoice not final), not_billed (the month's overage and why no invoice holds
    it), none (nothing to bill, and why)."""
    if invoiced is not None:
        return _invoiced_status(bill, invoiced)
    if bill.is_open and not reports:
        return "open", "overage so far this month", bill.total_cents
    billed = [r for r in reports if r.status in BILLED_STATUSES]
    if reports and len(billed) == len(reports):
        return "billed", "as the invoice shows", sum(r.cents for r in billed)
    if reports:
        if _draft_invoice(session, bill.user_id, bill.month):
            return "pending", "the invoice is a draft", sum(r.cents for r in reports)
        if any(r.status == "late" for r in reports):
            return "pending", ("it missed that month's invoice: billed once as its own "
                               "labelled line on the next invoice"), sum(r.cents for r in reports)
        if any(r.status in ("refused", "failed") for r in reports):
            return ("not_billed", "Stripe refused the report; support is looking into it",
                    bill.total_cents)
        return "pending", "reported to Stripe, waiting for the invoice", \
            sum(r.cents for r in reports)
    if not bill.paid:
        return "none", "on Free all month: Free never pays overage", 0
    if bill.total_cents == 0:
        return "none", "no overage: usage stayed within the included amounts", 0
    return "not_billed", "not reported to Stripe yet: not on any invoice", bill.total_cents


def _invoiced_status(bill: PeriodBill, invoiced: InvoicedMonth) -> tuple[str, str, int]:
    """A reconciled month shows the invoice's amount; a difference from our computation is
    said, never hidden."""
    why = "as the invoice shows"
    if invoiced.items:
        lines = "; ".join(f'"{i.description}" {format_cents(i.cents)}' for i in invoiced.items)
        why = (f"the invoice's lines plus the labelled {'line' if len(invoiced.items) == 1 else 'lines'}"
               f" {lines}")
    status = "billed" if invoiced.settled else "pending"
    if not invoiced.settled:
        why += " (the labelled line goes on the next invoice)"
    difference = invoiced.cents - bill.total_cents
    if difference:
        why += (f"; our computation is {format_cents(bill.total_cents)}, "
                f"{format_cents(abs(difference))} {'less' if difference > 0 else 'more'}: "
                "support is reviewing the difference")
    return status, why, invoiced.cents


def invoice_view(bill: PeriodBill, invoiced: InvoicedMonth | None) -> dict | None:
    """A reconciled month's invoice lines against our computation (None: not reconciled)."""
    if invoiced is None:
        return None
    return {
        "invoices": list(invoiced.invoice_ids),
        "invoice_cents": invoiced.invoice_cents,
        "items": [{"description": i.description, "cents": i.cents, "billed": i.billed,
                   "why": i.why} for i in invoiced.items],
        "billed_cents": invoiced.cents,
        "billed_display": format_cents(invoiced.cents),
        "computed_cents": bill.total_cents,
        "difference_cents": invoiced.cents - bill.total_cents,
        "differs": invoiced.cents != bill.total_cents or invoiced.over,
    }


def _history_months(session: Session, user_id: uuid.UUID, month: date) -> list[date]:
    """This month and every month back to the first run or storage sample (at most 12)."""
    firsts = session.execute(sa.select(
        sa.select(sa.func.min(Run.started_at)).where(
            Run.user_id == user_id).scalar_subquery(),
        sa.select(sa.func.min(StorageSample.at)).where(
            StorageSample.user_id == user_id).scalar_subquery(),
        sa.select(sa.func.min(OverageReport.month)).where(
            OverageReport.user_id == user_id).scalar_subquery())).one()
    first_run, first_sample, reported = firsts
    starts = [month_of(f) for f in (first_run, first_sample) if f is not None]
    starts += [reported] if reported else []
    first = min(starts, default=month)
    months = [month]
    while len(months) < HISTORY_MONTHS and months[-1] > first:
        months.append(previous_month(months[-1]))
    return months


def usage_summary(session: Session, *, user_id: uuid.UUID, now: datetime | None = None,
                  with_history: bool = True) -> dict:
    """Plan, this UTC month's period, limits, usage with percentages and levels (against the
    month's included amounts), and up to 12 months of history, each with its bill's breakdown
    and, for a past month, what was billed (or why not). `with_history=False` prices this month
    only (its history holds this month alone): what the header's meters and banners need.

    Hours and GB are floored to two decimals, so a display never shows more than was used.
    """
    profile = session.get(Profile, user_id)
    if profile is None:
        raise NotFound("Account not found.")
    now = (now or db_now(session)).replace(microsecond=0)
    plan = get_plan(profile.plan)
    month = month_of(now)
    reports = _reports(session, user_id)
    invoiced = invoiced_months(session, user_id=user_id)
    history = []
    current: PeriodBill | None = None
    for key in _history_months(session, user_id, month) if with_history else [month]:
        bill = period_bill(session, user_id=user_id, month=key, now=now)
        current = current or (bill if key == month else None)
        status, why, cents = month_status(session, bill=bill, reports=reports.get(key, []),
                                          invoiced=invoiced.get(key))
        history.append({
            "month": month_key(key),
            "compute_hours": _floor(hours_value(bill.used_compute_seconds)),
            "storage_gb": _floor(bill.counted_storage_gb_hours / bill.month_hours),
            "overage_cost": cents / 100,
            "overage_cents": cents,
            "overage_display": format_cents(cents),
            "overage_explanation": bill.overage.explanation(),
            "overage_reported": status in ("billed", "pending") and (
                bool(reports.get(key)) or key in invoiced),
            "status": status,
            "status_reason": why,
            "invoice": invoice_view(bill, invoiced.get(key)),
            "breakdown": breakdown(bill),
        })
    assert current is not None
    storage = storage_status(session, user_id=user_id, additional_bytes=0)
    storage_gb = Decimal(storage["storage_bytes"]) / BYTES_PER_GB
    # Paid: usage counted against the month's (prorated) allowance. Free: usage on Free
    # against its cap.
    if plan.is_paid:
        used, allowed = current.counted_compute_seconds, current.included_compute_seconds
    else:
        used, allowed = current.free_compute_seconds, plan.compute_seconds
    return {
        "plan": plan.key,
        "period": {"start": _iso(month_start(month)), "end": _iso(month_last_second(month))},
        "limits": {"compute_hours": plan.compute_hours, "storage_gb": plan.storage_gb,
                   "max_projects": plan.max_projects},
        "usage": {
            "compute_hours": _floor(hours_value(used)),
            "compute_seconds": used,
            "compute_included_hours": _floor(hours_value(allowed)),
            "compute_percent": usage_percent(used, allowed),
            "compute_level": usage_level(used, allowed),
            "storage_gb": _floor(storage_gb),
            "storage_bytes": storage["storage_bytes"],
            "storage_percent": usage_percent(float(storage_gb), plan.storage_gb),
            "storage_level": usage_level(float(storage_gb), plan.storage_gb),
            "project_count": count_projects(session, user_id=user_id),
        },
        "overage_so_far_cents": current.total_cents,
        "breakdown": breakdown(current),
        "history": history,
    }
