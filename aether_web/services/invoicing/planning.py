"""Overage reports planned: one `pending` `overage_reports` row per (user, month, meter) with
overage, under its deterministic identifier (`services.overage.overage_identifier`), inserted
once; rows that exist stay as they are. What is stored is what `invoicing.reporting` sends."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, select

from aether_web.db import dialect_insert
from aether_web.models import OverageReport, Profile

if TYPE_CHECKING:
    from aether_web.services.invoicing.reporting import SendSummary

KINDS = ("compute", "storage")


def _meters() -> dict[str, str]:
    from aether_web.services.overage import METER_BY_KIND

    return METER_BY_KIND


def plan_rows(session: Session, *, bills: Iterable[Any], now: datetime,
              summary: SendSummary | None = None) -> int:
    """Insert a `pending` row for every meter of every bill with overage, once (rows that
    exist stay as they are). A bill needs `user_id`, `month`, `compute_units`,
    `storage_units` (a `PeriodBill`); users without a Stripe customer are skipped (counted in
    `summary.no_customer`). Returns how many rows were added. Does not commit."""
    from aether_web.services.overage import overage_identifier, report_timestamp

    bills = list(bills)
    if not bills:
        return 0
    customers = {row[0]: (row[1], row[2]) for row in session.exec(
        select(Profile.id, Profile.stripe_customer_id, Profile.plan)
        .where(Profile.id.in_({b.user_id for b in bills}))).all()}
    rows = []
    for bill in bills:
        customer, plan = customers.get(bill.user_id, (None, "free"))
        units = {"compute": int(bill.compute_units), "storage": int(bill.storage_units)}
        if not any(v > 0 for v in units.values()):
            continue
        if not customer:
            if summary is not None:
                summary.no_customer += 1
            continue
        for kind in KINDS:
            if units[kind] <= 0:
                continue
            rows.append({
                "id": uuid.uuid4(), "user_id": bill.user_id, "month": bill.month,
                "meter": _meters()[kind],
                "identifier": overage_identifier(bill.user_id, bill.month, kind),
                "stripe_customer_id": customer, "plan": _billed_plan(bill, plan),
                "units": units[kind], "cents": units[kind],
                "event_timestamp": report_timestamp(bill.month, now),
                "status": "pending", "attempts": 0})
    if not rows:
        return 0
    stmt = dialect_insert(session)(OverageReport.__table__).on_conflict_do_nothing(
        index_elements=["identifier"]).returning(OverageReport.__table__.c.id)
    # executemany: SQLAlchemy batches the rows into a few cached multi-row statements
    return len(session.connection().execute(stmt, rows).all())


def _billed_plan(bill: Any, fallback: str) -> str:
    """The last paid plan of the bill's month (a `PeriodBill`'s intervals), else its plan."""
    paid = [iv.plan for iv in getattr(bill, "intervals", ()) if iv.paid]
    return paid[-1] if paid else (getattr(bill, "plan", None) or fallback)
