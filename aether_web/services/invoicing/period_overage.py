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

from aether_web.billing.periods import month_key
from aether_web.integrations.stripe import (
    COMPUTE_METER,
    STORAGE_METER,
    StripeGateway,
    StripeGatewayError,
)
from aether_web.models import OverageReport, Profile
from aether_web.services import overage
from aether_web.services.invoicing.alerts import billing_alert
from aether_web.services.period_bill import period_bill
from aether_web.services.usage import accrue_storage

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

    @property
    def total_cents(self) -> int:
        return sum(self.units.values())


def compute_period_overage(session: Session, *, user_id: uuid.UUID, month: date,
                           now: datetime, plan_key: str | None = None) -> PeriodOverage:
    """The user's overage of `month` as of `now`: the one period computation
    (`period_bill`, priced on the plan intervals inside the month, so a plan that ended at the
    period's end still owes it). `plan_key` only labels the report rows."""
    accrue_storage(session, now=now)
    bill = period_bill(session, user_id=user_id, month=month, now=now)
    return PeriodOverage(user_id, month, {COMPUTE_METER: bill.compute_units,
                                          STORAGE_METER: bill.storage_units})


def month_reports(session: Session, *, user_id: uuid.UUID, month: date) -> list[OverageReport]:
    """The user's report rows of `month`, one per meter at most."""
    return list(session.exec(select(OverageReport).where(
        OverageReport.user_id == user_id, OverageReport.month == month)).all())


def plan_period_reports(session: Session, *, profile: Profile, bill: PeriodOverage,
                        timestamp: int, plan_key: str) -> list[OverageReport]:
    """Insert (pending) the report rows of `bill` that don't exist yet; existing rows stay
    as they are, so a period is never reported twice. Returns every row of the month."""
    for meter, units in bill.units.items():
        if units <= 0 or not profile.stripe_customer_id:
            continue
        overage._insert_once(session, OverageReport(
            user_id=profile.id, month=bill.month, meter=meter,
            identifier=overage.overage_identifier(profile.id, bill.month, KIND_BY_METER[meter]),
            stripe_customer_id=profile.stripe_customer_id, plan=plan_key, units=units,
            cents=units, event_timestamp=timestamp, status="pending"))
    return month_reports(session, user_id=profile.id, month=bill.month)


def send_reports(session: Session, *, reports: list[OverageReport],
                 gateway: StripeGateway) -> list[OverageReport]:
    """Send the pending rows now (same identifier every time, so a retry is harmless).
    StripeUnavailable propagates: the caller answers 5xx and Stripe keeps the draft. A
    refusal marks the row `refused` and raises an alert; it is billed as a labelled item
    once the invoice is final. Returns the rows Stripe refused."""
    refused = []
    for row in reports:
        if row.status != "pending":
            continue
        row.attempts += 1
        try:
            gateway.send_meter_event(event_name=row.meter, identifier=row.identifier,
                                     customer_id=row.stripe_customer_id, value=row.units,
                                     timestamp=row.event_timestamp)
        except StripeGatewayError as exc:
            row.status = "refused"
            row.last_error = f"{exc.stripe_code or ''} {exc.stripe_message}".strip()
            refused.append(row)
            billing_alert("refused", f"Stripe refused {row.identifier} ({row.units} units): "
                                     f"{row.last_error}")
        else:
            row.status = "sent"
            row.last_error = None
        session.add(row)
    session.flush()
    return refused


def describe_month(month: date) -> str:
    """"November 2026" for a period's label."""
    return month.strftime("%B %Y")


def report_label(row: OverageReport) -> str:
    return f"{row.identifier} ({month_key(row.month)})"
