"""One user's overage for one period, as the invoice gate needs it: our computation in
units per meter, its report rows (planned once, insert-only) and getting them accepted.

The invoice says which period it bills; the gate never asks which plan the user holds now
(a subscription that ended at the period's end still owes that period's overage).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, select

from aether_web.billing.plans import PlanKey
from aether_web.db import dialect_insert
from aether_web.integrations.stripe import (
    COMPUTE_METER,
    STORAGE_METER,
    StripeGateway,
    StripeUnavailable,
)
from aether_web.models import OverageReport, Profile
from aether_web.services import overage
from aether_web.services.invoicing.reporting import ensure_overage_accepted
from aether_web.services.period_bill import period_bill
from aether_web.services.storage_accrual import accrue_storage

KIND_BY_METER = {COMPUTE_METER: "compute", STORAGE_METER: "storage"}
# Report statuses: accepted by Stripe (the sender's "sent" and "accepted" alike), on an
# invoice, and the ones that need a labelled item.
ACCEPTED = ("sent", "accepted")
ON_INVOICE = ("invoiced", "item_billed")
REFUSED = ("refused", "failed")


@dataclass(frozen=True)
class PeriodOverage:
    """Our computation of a user's overage for a period, in 1-cent units per meter."""

    user_id: uuid.UUID
    month: date
    units: dict[str, int]
    plan: str = PlanKey.PRO  # the last paid plan of the period (labels the report rows)

    @property
    def total_cents(self) -> int:
        return sum(self.units.values())

    @property
    def compute_units(self) -> int:
        return self.units[COMPUTE_METER]

    @property
    def storage_units(self) -> int:
        return self.units[STORAGE_METER]


def compute_period_overage(session: Session, *, user_id: uuid.UUID, month: date,
                           now: datetime, plan_key: str | None = None) -> PeriodOverage:
    """The user's overage of `month` as of `now`: the one period computation
    (`period_bill`, priced on the plan intervals inside the month, so a plan that ended at the
    period's end still owes it). `plan_key` only labels the report rows."""
    accrue_storage(session, now=now, user_id=user_id)  # this user's projects only
    bill = period_bill(session, user_id=user_id, month=month, now=now)
    paid = [iv.plan for iv in bill.intervals if iv.paid]
    return PeriodOverage(user_id, month, {COMPUTE_METER: bill.compute_units,
                                          STORAGE_METER: bill.storage_units},
                         plan=paid[-1] if paid else (plan_key or PlanKey.PRO))


def month_reports(session: Session, *, user_id: uuid.UUID, month: date) -> list[OverageReport]:
    """The user's report rows of `month`, one per meter at most."""
    return list(session.exec(select(OverageReport).where(
        OverageReport.user_id == user_id, OverageReport.month == month)).all())


def plan_period_reports(session: Session, *, profile: Profile, bill: PeriodOverage,
                        timestamp: int, plan_key: str | None) -> list[OverageReport]:
    """Insert (pending) the report rows of `bill` that don't exist yet, stamped `timestamp`
    (inside the period the invoice bills); existing rows stay as they are, so a period is
    never reported twice. Returns every row of the month."""
    rows = [{"id": uuid.uuid4(), "user_id": profile.id, "month": bill.month, "meter": meter,
             "identifier": overage.overage_identifier(profile.id, bill.month,
                                                      KIND_BY_METER[meter]),
             "stripe_customer_id": profile.stripe_customer_id,
             "plan": plan_key or bill.plan, "units": units, "cents": units,
             "event_timestamp": timestamp, "status": "pending", "attempts": 0}
            for meter, units in bill.units.items() if units > 0]
    if rows and profile.stripe_customer_id:
        stmt = dialect_insert(session)(OverageReport.__table__).on_conflict_do_nothing(
            index_elements=["identifier"])
        session.exec(stmt.values(rows))  # type: ignore[call-overload]
    return month_reports(session, user_id=profile.id, month=bill.month)


def send_reports(session: Session, *, bill: PeriodOverage, now: datetime,
                 gateway: StripeGateway) -> list[OverageReport]:
    """Get the month's pending rows accepted now, with the sender's retries (same identifier
    and key every time). Raises StripeUnavailable when Stripe did not answer in time: the
    webhook answers 5xx and Stripe keeps the draft. A refusal leaves the row `refused` (the
    sender alerts); it is billed as a labelled item once the invoice is final. Returns the
    refused rows."""
    summary = ensure_overage_accepted(session, user_id=bill.user_id, month=bill.month,
                                      now=now, gateway=gateway, bill=bill)
    if summary.pending:
        raise StripeUnavailable()
    return [r for r in month_reports(session, user_id=bill.user_id, month=bill.month)
            if r.status in REFUSED]


def describe_month(month: date) -> str:
    """"November 2026" for a period's label."""
    return month.strftime("%B %Y")


