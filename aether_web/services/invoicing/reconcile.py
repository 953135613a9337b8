"""Finalized invoices against our computation of the period they bill (rule 8, 16).

For each overage meter: our units for the period, the units on the invoice's metered lines,
and the units already billed as labelled items. Equal: the reports count as invoiced. Short:
the remainder becomes one labelled item (late, or refused when Stripe refused it). Over:
recorded and alerted for support to credit (we never bill more than our computation).
A finalized invoice never changes, so each invoice is compared once.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session, select

from aether_web.billing.periods import month_key
from aether_web.integrations.stripe import METERS, InvoiceInfo, InvoiceLineInfo
from aether_web.models import InvoiceReconciliation, OverageAdjustment, Profile
from aether_web.services.invoicing.adjustments import billed_units, mark_billed, record_adjustment
from aether_web.services.invoicing.alerts import billing_alert
from aether_web.services.invoicing.period_overage import REFUSED, month_reports

METER_BY_PRODUCT = {product_id: meter for meter, (product_id, _name) in METERS.items()}


def metered_units(lines: list[InvoiceLineInfo]) -> dict[str, int]:
    """Units per overage meter on an invoice's metered lines (labelled items excluded)."""
    out: dict[str, int] = {}
    for line in lines:
        meter = METER_BY_PRODUCT.get(line.product_id or "")
        if meter and not line.invoice_item_id and "aether_adjustment" not in line.metadata:
            out[meter] = out.get(meter, 0) + line.quantity
    return out


def mark_items_on_invoice(session: Session, *, invoice: InvoiceInfo,
                          lines: list[InvoiceLineInfo], now: datetime) -> int:
    """Labelled items found on a finalized invoice count as billed from now on."""
    if invoice.status in ("draft", "void"):
        return 0
    done = 0
    for line in lines:
        key = line.metadata.get("aether_adjustment")
        if not key:
            continue
        row = session.exec(select(OverageAdjustment).where(
            OverageAdjustment.idempotency_key == key)).first()
        if row is not None and row.status != "billed":
            mark_billed(session, row=row, invoice_id=invoice.id, now=now)
            done += 1
    return done


def reconcile_invoice(session: Session, *, profile: Profile, invoice: InvoiceInfo,
                      lines: list[InvoiceLineInfo], month: date,
                      now: datetime) -> list[InvoiceReconciliation]:
    """Compare a finalized invoice's metered lines with our reports of `month` (planned by
    the caller) and act on each difference. Returns the recorded rows."""
    existing = list(session.exec(select(InvoiceReconciliation).where(
        InvoiceReconciliation.stripe_invoice_id == invoice.id)).all())
    if existing:
        return existing
    on_invoice = metered_units(lines)
    reports = {r.meter: r for r in month_reports(session, user_id=profile.id, month=month)}
    items = billed_units(session, user_id=profile.id, month=month)
    rows = []
    for meter in METERS:
        report = reports.get(meter)
        ours = report.units if report is not None else 0
        invoiced, item = on_invoice.get(meter, 0), items.get(meter, 0)
        missing = ours - invoiced - item
        label = f"{invoice.id} {month_key(month)} {meter}"
        if missing == 0:
            status, action = "match", "none"
            if report is not None and invoiced > 0 and report.status not in ("item_billed",):
                report.status = "invoiced"
        elif missing > 0:
            status = "short"
            reason = "refused" if report is not None and report.status in REFUSED else "late"
            if report is not None and report.status not in REFUSED:
                report.status = "late"
            added = record_adjustment(session, profile=profile, month=month, meter=meter,
                                      units=missing, reason=reason)
            if added is not None:
                action = (f"{missing} units billed once as the labelled item "
                          f"\"{added.description}\"")
            else:
                action = "alerted: this month's labelled item exists already; support to review"
                billing_alert("invoice_short", f"{label}: {missing} units missing after the "
                                               "labelled item; not billed again")
        else:
            status = "over"
            action = (f"alerted: the invoice holds {-missing} units more than our computation; "
                      "support to credit them")
            billing_alert("invoice_over", f"{label}: invoice {invoiced} + items {item} > ours "
                                          f"{ours}")
        if report is not None:
            session.add(report)
        if ours == 0 and invoiced == 0 and item == 0:
            continue
        row = InvoiceReconciliation(stripe_invoice_id=invoice.id, user_id=profile.id,
                                    month=month, meter=meter, our_units=ours,
                                    invoice_units=invoiced, item_units=item, status=status,
                                    action=action, checked_at=now)
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


def invoice_differences(session: Session, *, user_id=None, limit: int = 50
                        ) -> list[InvoiceReconciliation]:
    """Invoices that differed from our computation (newest first), for support."""
    query = select(InvoiceReconciliation).where(InvoiceReconciliation.status != "match")
    if user_id is not None:
        query = query.where(InvoiceReconciliation.user_id == user_id)
    return list(session.exec(query.order_by(InvoiceReconciliation.checked_at.desc())
                             .limit(limit)).all())
