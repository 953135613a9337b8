"""What Stripe billed for each month (policy rule 16): once a month's invoice is finalized and
reconciled, displays show the invoice's lines, not our own reports; a remainder that missed
the invoice shows as its labelled item. A difference from our computation is flagged.

Meters are priced at one cent per unit (`billing.pricing`), so units on an invoice line are
its cents.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, select

from aether_web.models import InvoiceReconciliation, OverageAdjustment
from aether_web.services.invoicing.adjustments import REASONS


@dataclass(frozen=True)
class LabelledItem:
    """A month's overage billed once as its own labelled line."""

    description: str
    cents: int
    billed: bool  # seen on a finalized invoice
    why: str


@dataclass(frozen=True)
class InvoicedMonth:
    """A month's overage as Stripe's finalized invoices hold it."""

    month: date
    invoice_ids: tuple[str, ...]
    invoice_cents: int  # the month's metered lines on its invoice(s)
    reported_cents: int  # our computation when the invoice was compared
    items: tuple[LabelledItem, ...] = ()
    over: bool = False  # the invoice held more than our computation (support credits it)

    @property
    def item_cents(self) -> int:
        return sum(i.cents for i in self.items)

    @property
    def cents(self) -> int:
        """What the month is billed: its invoice lines plus its labelled items."""
        return self.invoice_cents + self.item_cents

    @property
    def settled(self) -> bool:
        """Every line is on a finalized invoice (no labelled item still to come)."""
        return all(i.billed for i in self.items)


def invoiced_months(session: Session, *, user_id: uuid.UUID) -> dict[date, InvoicedMonth]:
    """The user's reconciled months: the invoice's metered lines and the labelled items."""
    recs = session.exec(select(InvoiceReconciliation).where(
        InvoiceReconciliation.user_id == user_id)
        .order_by(InvoiceReconciliation.month, InvoiceReconciliation.checked_at)).all()
    items: dict[date, list[LabelledItem]] = {}
    for adj in session.exec(select(OverageAdjustment).where(
            OverageAdjustment.user_id == user_id)
            .order_by(OverageAdjustment.month, OverageAdjustment.meter)).all():
        if adj.status == "failed":
            continue  # not billed, and shown as such by support (never as billed)
        items.setdefault(adj.month, []).append(LabelledItem(
            description=adj.description, cents=adj.cents, billed=adj.status == "billed",
            why=REASONS.get(adj.reason, adj.reason)))
    by_month: dict[date, list[InvoiceReconciliation]] = {}
    for rec in recs:
        by_month.setdefault(rec.month, []).append(rec)
    out = {}
    for month, rows in by_month.items():
        # Our units per meter as compared with the first invoice of the month.
        reported: dict[str, int] = {}
        for r in rows:
            reported.setdefault(r.meter, r.our_units)
        out[month] = InvoicedMonth(
            month=month,
            invoice_ids=tuple(dict.fromkeys(r.stripe_invoice_id for r in rows)),
            invoice_cents=sum(r.invoice_units for r in rows),
            reported_cents=sum(reported.values()),
            items=tuple(items.get(month, ())),
            over=any(r.status == "over" for r in rows))
    return out
