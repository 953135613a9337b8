"""Billing jobs: overage to Stripe, meter reconciliation, grace periods, the email outbox."""

from __future__ import annotations

from sqlmodel import Session

from aether_web.integrations.stripe import get_gateway
from aether_web.jobs.registry import Job, register
from aether_web.services import overage, subscriptions
from aether_web.services.email import deliver_pending
from aether_web.services.invoicing.adjustments import bill_pending_adjustments
from aether_web.services.invoicing.invoice_gate import recheck_invoices
from aether_web.services.invoicing.month_end import run_month_end


def report_overage(_session: Session) -> str:
    # Owns its transactions: the reports are committed before Stripe is called.
    return run_month_end()


def reconcile_meters(session: Session) -> str:
    return overage.reconcile_recent(session, gateway=get_gateway())


def expire_grace_periods(session: Session) -> str:
    return subscriptions.expire_grace_periods(session, gateway=get_gateway())


def recheck_invoice_drafts(_session: Session) -> str:
    # Owns its transactions (one per invoice), like the webhook it stands in for.
    return recheck_invoices(gateway=get_gateway())


def bill_overage_items(_session: Session) -> str:
    # Owns its transactions: each item is committed before Stripe is called.
    return bill_pending_adjustments(gateway=get_gateway())


def send_email(_session: Session) -> str:
    counts = deliver_pending()
    return f"sent {counts['sent']}, to retry {counts['retry']}, failed {counts['failed']}"


register(Job("report_overage", report_overage, every_seconds=60,
             description="Right after a month ends, send every paying user's overage of it to "
                         "Stripe's meters; send again what Stripe did not answer.",
             max_interval_seconds=1800))
register(Job("reconcile_meters", reconcile_meters, every_seconds=3600,
             description="Compare our overage with Stripe's meter summaries; report any "
                         "difference.", max_interval_seconds=3 * 3600))
register(Job("expire_grace_periods", expire_grace_periods, every_seconds=900,
             description="Move users whose payment grace period ended to Free.",
             max_interval_seconds=3600))
register(Job("recheck_invoice_drafts", recheck_invoice_drafts, every_seconds=600,
             description="Make sure every draft and final invoice carries its period's "
                         "overage, without relying on webhook retries; reconcile final ones.",
             max_interval_seconds=1800))
register(Job("bill_overage_items", bill_overage_items, every_seconds=300,
             description="Bill late or refused overage once, as a labelled invoice item.",
             max_interval_seconds=1800))
register(Job("send_email", send_email, every_seconds=60,
             description="Deliver queued email over SMTP.", max_interval_seconds=900))
