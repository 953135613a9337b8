"""What support sees of the invoice gate: each invoice compared with our computation and
what was done about a difference, and every labelled overage item with why it exists."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session, select

from aether_web.billing.money import format_cents
from aether_web.models import InvoiceReconciliation, OverageAdjustment
from aether_web.services.invoicing.adjustments import REASONS

MAX_ROWS = 50


def _iso(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def invoice_check_rows(session: Session, *, user_id: uuid.UUID) -> list[dict[str, str]]:
    """The user's invoices against our computation, newest first."""
    rows = session.exec(select(InvoiceReconciliation).where(
        InvoiceReconciliation.user_id == user_id)
        .order_by(InvoiceReconciliation.checked_at.desc()).limit(MAX_ROWS)).all()
    return [{"invoice": r.stripe_invoice_id, "month": r.month.strftime("%Y-%m"),
             "meter": r.meter, "ours": str(r.our_units), "on_invoice": str(r.invoice_units),
             "items": str(r.item_units), "status": r.status, "action": r.action,
             "checked_at": _iso(r.checked_at)} for r in rows]


def adjustment_rows(session: Session, *, user_id: uuid.UUID | None = None,
                    open_only: bool = False) -> list[dict[str, str]]:
    """Labelled overage items (one user's, or every one not on an invoice yet)."""
    query = select(OverageAdjustment)
    if user_id is not None:
        query = query.where(OverageAdjustment.user_id == user_id)
    if open_only:
        query = query.where(OverageAdjustment.status != "billed")
    rows = session.exec(query.order_by(OverageAdjustment.created_at.desc())
                        .limit(MAX_ROWS)).all()
    return [{"user_id": str(r.user_id), "month": r.month.strftime("%Y-%m"), "meter": r.meter,
             "units": str(r.units), "amount": format_cents(r.cents),
             "why": REASONS.get(r.reason, r.reason), "status": r.status,
             "line": r.description, "invoice": r.stripe_invoice_id or "",
             "error": (r.last_error or "")[-300:], "created_at": _iso(r.created_at)}
            for r in rows]
