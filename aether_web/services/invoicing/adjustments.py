"""Overage that could not reach its period's invoice, billed once as its own labelled line
("Overage for November 2026") on the next invoice, or on an invoice of its own when no
invoice is coming (rule 8).

`record_adjustment` runs in the caller's transaction (insert-once on a key derived from
user, month and meter). `bill_pending_adjustments` owns its transactions: each row is
committed before Stripe is called, and the Stripe call carries the row's key, so a crash
or a retry can never create a second item.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.billing.money import format_cents
from aether_web.billing.periods import month_end, month_key, month_start
from aether_web.db import db_now, dialect_insert, transaction
from aether_web.integrations.stripe import StripeGateway, StripeGatewayError, StripeUnavailable
from aether_web.models import OverageAdjustment, OverageReport, Profile
from aether_web.observability import log
from aether_web.services.invoicing.alerts import billing_alert
from aether_web.services.invoicing.period_overage import KIND_BY_METER, describe_month

LINE_WHAT = {
    "compute": "compute, $0.10 per hour counted in 6-minute units of 1 cent",
    "storage": "storage, $0.50 per GB-month counted in units of 1 cent",
}
REASONS = {
    "late": "it reached Stripe after that month's invoice was final",
    "refused": "Stripe refused it when it was first sent",
    "no_final_invoice": "the subscription ended without a final invoice",
    "short": "that month's invoice was final without it",
}


def adjustment_key(user_id: uuid.UUID | str, month: date, meter: str) -> str:
    """The one idempotency key of a month's labelled overage item on one meter."""
    return f"overage-item:{user_id}:{month_key(month)}:{KIND_BY_METER[meter]}"


def adjustment_description(month: date, meter: str, units: int) -> str:
    """The line people read on the invoice."""
    return (f"Overage for {describe_month(month)}: {LINE_WHAT[KIND_BY_METER[meter]]} "
            f"({units} units, {format_cents(units)})")


def record_adjustment(session: Session, *, profile: Profile, month: date, meter: str,
                      units: int, reason: str) -> OverageAdjustment | None:
    """Record (once) that `units` of `month` on `meter` are to be billed as a labelled item.
    Returns the new row, or None when the month's item on that meter exists already (the
    second difference is alerted, never billed twice)."""
    key = adjustment_key(profile.id, month, meter)
    existing = session.exec(select(OverageAdjustment).where(
        OverageAdjustment.idempotency_key == key)).first()
    if existing is not None or units <= 0 or not profile.stripe_customer_id:
        return None
    values = {"id": uuid.uuid4(), "user_id": profile.id, "month": month, "meter": meter,
              "idempotency_key": key, "stripe_customer_id": profile.stripe_customer_id,
              "units": units, "cents": units, "reason": reason,
              "description": adjustment_description(month, meter, units),
              "status": "pending", "attempts": 0}
    table = OverageAdjustment.__table__
    stmt = dialect_insert(session)(table).values(**values).on_conflict_do_nothing(
        index_elements=["idempotency_key"]).returning(table.c.id)
    if not session.exec(stmt).all():
        return None
    billing_alert(reason, f"user {profile.id} {month_key(month)} {meter}: {units} units "
                          f"to bill as a labelled item ({REASONS.get(reason, reason)})")
    return session.get(OverageAdjustment, values["id"])


def bill_pending_adjustments(*, gateway: StripeGateway, engine: sa.Engine | None = None) -> str:
    """Create each pending labelled item in Stripe (same key on every attempt). A customer
    with no live subscription has no invoice coming: the item gets an invoice of its own."""
    with transaction(engine) as session:
        # item_created: waiting for the customer's next invoice, which may no longer come
        ids = list(session.exec(select(OverageAdjustment.id).where(
            OverageAdjustment.status.in_(("pending", "item_created")))
            .order_by(OverageAdjustment.created_at)))
    created = own = retry = failed = 0
    for adj_id in ids:
        with transaction(engine) as session:
            row = session.exec(select(OverageAdjustment).where(
                OverageAdjustment.id == adj_id).with_for_update()).first()
            if row is None or row.status not in ("pending", "item_created"):
                continue
            row.attempts += 1
            start = int(month_start(row.month).timestamp())
            end = int(min(month_end(row.month), db_now(session)).timestamp())
            meta = {"aether_adjustment": row.idempotency_key, "aether_user_id": str(row.user_id),
                    "aether_month": month_key(row.month)}
            try:
                if row.status == "pending":
                    row.stripe_invoice_item_id = gateway.create_invoice_item(
                        customer_id=row.stripe_customer_id, amount_cents=row.cents,
                        description=row.description, period=(start, max(end, start + 1)),
                        metadata=meta, idempotency_key=row.idempotency_key)
                    row.status = "item_created"
                    created += 1
                if not gateway.invoice_coming(customer_id=row.stripe_customer_id):
                    inv = gateway.invoice_pending_items_now(
                        customer_id=row.stripe_customer_id,
                        description=f"Overage for {describe_month(row.month)}",
                        metadata=meta, idempotency_key=f"{row.idempotency_key}-invoice")
                    mark_billed(session, row=row, invoice_id=inv.id, now=db_now(session))
                    own += 1
            except StripeUnavailable as exc:
                row.last_error = exc.message
                retry += 1
            except StripeGatewayError as exc:
                row.status = "failed"
                row.last_error = f"{exc.stripe_code or ''} {exc.stripe_message}".strip()
                failed += 1
                billing_alert("item_failed", f"labelled item {row.idempotency_key} refused: "
                                             f"{row.last_error}")
            session.add(row)
    return (f"labelled overage items: {created} created ({own} on an invoice of their own), "
            f"{retry} to retry, {failed} refused")


def bill_adjustments_quietly(*, gateway: StripeGateway, engine: sa.Engine | None = None) -> None:
    """Best effort right after a webhook committed an adjustment; the job retries the rest."""
    try:
        with transaction(engine) as session:
            waiting = session.exec(select(OverageAdjustment.id).where(
                OverageAdjustment.status == "pending").limit(1)).first()
        if waiting is not None:
            bill_pending_adjustments(gateway=gateway, engine=engine)
    except Exception:  # never fail the webhook: the scheduled job bills what is left
        log.exception("labelled overage items not billed yet; the job will retry")


def mark_billed(session: Session, *, row: OverageAdjustment, invoice_id: str,
                now: datetime) -> None:
    """The item is on `invoice_id`: the adjustment and its month's reports count as billed."""
    row.status = "billed"
    row.stripe_invoice_id = invoice_id
    row.billed_at = now
    session.add(row)
    for report in session.exec(select(OverageReport).where(
            OverageReport.user_id == row.user_id, OverageReport.month == row.month,
            OverageReport.meter == row.meter)).all():
        if report.status not in ("invoiced",):
            report.status = "item_billed"
            session.add(report)


def billed_units(session: Session, *, user_id: uuid.UUID, month: date) -> dict[str, int]:
    """Units of `month` already billed (or being billed) as labelled items, per meter."""
    rows = session.exec(select(OverageAdjustment).where(
        OverageAdjustment.user_id == user_id, OverageAdjustment.month == month,
        OverageAdjustment.status != "failed")).all()
    out: dict[str, int] = {}
    for row in rows:
        out[row.meter] = out.get(row.meter, 0) + row.units
    return out


def to_ts(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None
