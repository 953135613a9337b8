"""Overage jobs: a month's overage sent to Stripe at the month end, invoices checked to carry
it, what missed its invoice billed as a labelled item, Stripe's meters reconciled."""

from __future__ import annotations

from sqlmodel import Session

from aether_web.integrations.stripe import get_gateway
from aether_web.jobs.registry import Job, register
from aether_web.services import overage
from aether_web.services.invoicing.adjustments import bill_pending_adjustments
from aether_web.services.invoicing.invoice_gate import recheck_invoices
from aether_web.services.invoicing.month_end import run_month_end


def send_month_end_overage(_session: Session) -> str:
    # Owns its transactions: the reports are committed before Stripe is called.
    return run_month_end()


def reconcile_meters(_session: Session) -> str:
    # Owns its transactions: Stripe's meter summaries are read outside any.
    return overage.reconcile_recent(gateway=get_gateway())


def recheck_invoice_drafts(_session: Session) -> str:
    # Owns its transactions (one per invoice), like the webhook it stands in for.
    return recheck_invoices(gateway=get_gateway())


def bill_overage_items(_session: Session) -> str:
    # Owns its transactions: each item is committed before Stripe is called.
    return bill_pending_adjustments(gateway=get_gateway())


register(Job("send_month_end_overage", send_month_end_overage, every_seconds=60,
             description="Right after a month ends, send every paying user's overage of it to "
                         "Stripe's meters; send again what Stripe did not answer.",
             max_interval_seconds=1800))
register(Job("reconcile_meters", reconcile_meters, every_seconds=3600,
             description="Compare our overage with Stripe's meter summaries; report any "
                         "difference.", max_interval_seconds=3 * 3600))
register(Job("recheck_invoice_drafts", recheck_invoice_drafts, every_seconds=600,
             description="Make sure every draft and final invoice carries its period's "
                         "overage, without relying on webhook retries; reconcile final ones.",
             max_interval_seconds=1800))
register(Job("bill_overage_items", bill_overage_items, every_seconds=300,
             description="Bill late or refused overage once, as a labelled invoice item.",
             max_interval_seconds=1800))
