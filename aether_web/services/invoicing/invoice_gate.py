"""The invoice gate: a period's overage is in before its invoice is final (rules 8, 11).

- `invoice.created` for a draft that bills a period (the renewal invoice, or the final
  invoice of a subscription that ends): our overage for that period is computed and sent;
  the webhook answers 2xx only once Stripe accepted it. StripeUnavailable propagates, the
  webhook answers 5xx, and Stripe keeps the invoice in draft and delivers again.
- An invoice already final when we see it (the draft's hour passed, or the period was closed
  without a draft) is compared with our computation at once: what is missing becomes one
  labelled item (see `reconcile`).
- `invoice.finalized` / `invoice.paid`: labelled items found on it count as billed, and
  the invoice is reconciled (once).
- `recheck_invoices` (a job) does not rely on webhook retries, which test mode gives only a
  few of: it runs stored invoice events that failed, gates Stripe's open drafts, and
  reconciles invoices gated as drafts once they are final.

Services take the caller's session and never commit (the webhook owns the transaction).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.billing.periods import month_of
from aether_web.db import db_now, transaction
from aether_web.integrations.stripe import (
    METERS,
    InvoiceInfo,
    InvoiceLineInfo,
    StripeGateway,
    StripeGatewayError,
    StripeUnavailable,
)
from aether_web.models import InvoiceCheck, Profile, StripeEvent
from aether_web.observability import log
from aether_web.services.invoicing.period_overage import (
    ACCEPTED,
    compute_period_overage,
    month_reports,
    plan_period_reports,
    send_reports,
)
from aether_web.services.invoicing.reconcile import mark_items_on_invoice, reconcile_invoice
from aether_web.services.subscriptions import find_profile

# Invoices that bill a subscription period's metered usage.
PERIOD_REASONS = ("subscription_cycle",)
METER_PRODUCTS = {product_id for product_id, _name in METERS.values()}
DRAFT_LOOKBACK = timedelta(days=3)
# An invoice event younger than this carries a copy that stands for Stripe's (a draft is
# finalized no sooner than an hour after its creation).
EVENT_COPY_MAX_AGE = 30 * 60
FINAL_STATUSES = ("open", "paid", "uncollectible")
INVOICE_EVENTS = ("invoice.created", "invoice.finalized", "invoice.paid")


def bills_a_period(invoice: InvoiceInfo, lines: list[InvoiceLineInfo]) -> bool:
    """A renewal or final invoice: a subscription's cycle, or any invoice with metered lines
    (an immediate cancel's final invoice)."""
    if not invoice.subscription_id:
        return False
    return invoice.billing_reason in PERIOD_REASONS or any(
        line.product_id in METER_PRODUCTS and not line.invoice_item_id for line in lines)


def invoice_month(invoice: InvoiceInfo) -> date:
    """The month whose usage the invoice bills (its period's start)."""
    return month_of(datetime.fromtimestamp(int(invoice.period_start or invoice.created), UTC))


def _check_row(session: Session, *, profile: Profile, invoice: InvoiceInfo,
               month: date) -> InvoiceCheck:
    row = session.exec(select(InvoiceCheck).where(
        InvoiceCheck.stripe_invoice_id == invoice.id)).first()
    if row is None:
        row = InvoiceCheck(stripe_invoice_id=invoice.id, user_id=profile.id, month=month,
                           billing_reason=invoice.billing_reason or "", status="waiting")
    row.attempts += 1
    return row


def _plan_reports(session: Session, *, profile: Profile, invoice: InvoiceInfo, month: date,
                  now: datetime):
    # Priced on the plan intervals of the period (never on the plan held now); stamped
    # inside the period the invoice bills.
    bill = compute_period_overage(session, user_id=profile.id, month=month, now=now)
    end = int(invoice.period_end or now.timestamp())
    timestamp = max(int(invoice.period_start or 0), min(end - 1, int(now.timestamp())))
    return bill, plan_period_reports(session, profile=profile, bill=bill,
                                     timestamp=timestamp, plan_key=None)


def gate_invoice(session: Session, *, invoice_id: str, gateway: StripeGateway,
                 now: datetime | None = None,
                 known: tuple[InvoiceInfo, list[InvoiceLineInfo]] | None = None) -> str:
    """Make sure the period's overage is on this invoice: sent while it is a draft, else
    reconciled against it. `known`: the invoice as a fresh webhook event carried it (no call
    to Stripe); else it is read from Stripe. Raises StripeUnavailable while Stripe does not
    answer."""
    now = now or db_now(session)
    try:
        invoice, lines = known or gateway.invoice_with_lines(invoice_id)
    except StripeGatewayError as exc:
        if exc.http_status == 404:  # deleted draft, or another account's test data
            return f"ignored: Stripe has no invoice {invoice_id}"
        raise
    if not bills_a_period(invoice, lines):
        mark_items_on_invoice(session, invoice=invoice, lines=lines, now=now)
        return f"invoice {invoice.id} ({invoice.billing_reason}) bills no period's usage"
    profile = find_profile(session, customer_id=invoice.customer_id)
    if profile is None:
        return f"ignored: no user for customer {invoice.customer_id}"
    month = invoice_month(invoice)
    check = _check_row(session, profile=profile, invoice=invoice, month=month)
    check.checked_at = now
    bill, _reports = _plan_reports(session, profile=profile, invoice=invoice, month=month,
                                   now=now)
    if invoice.status == "draft":
        check.status = "waiting"
        session.add(check)
        session.flush()
        refused = send_reports(session, bill=bill, now=now, gateway=gateway)
        check.status = "ready"
        check.last_error = None
        session.add(check)
        accepted = sum(r.units for r in month_reports(session, user_id=profile.id, month=month)
                       if r.status in ACCEPTED)
        return (f"draft {invoice.id}: overage of {month:%Y-%m} accepted ({accepted} units"
                f"{f', {len(refused)} refused' if refused else ''})")
    if invoice.status == "void":
        check.status = "reconciled"
        session.add(check)
        return f"invoice {invoice.id} is void"
    mark_items_on_invoice(session, invoice=invoice, lines=lines, now=now)
    rows = reconcile_invoice(session, profile=profile, invoice=invoice, lines=lines,
                             month=month, now=now)
    check.status = "reconciled"
    session.add(check)
    summary = ", ".join(f"{r.meter} {r.status}" for r in rows) or "no overage"
    return f"invoice {invoice.id} ({invoice.status}) for {month:%Y-%m}: {summary}"


def carried_invoice(session: Session, event: dict, gw: StripeGateway, *,
                statuses: tuple[str, ...]) -> tuple[InvoiceInfo, list[InvoiceLineInfo]] | None:
    """The event's own copy of the invoice, when it can stand for Stripe's: the event is
    fresh (a draft can't be final yet: Stripe finalizes no sooner than an hour after its
    creation; a final invoice's lines never change), of our API version, whole, and in one
    of `statuses`.
    At a month end that saves a read per invoice event, within Stripe's read limits. A late
    delivery or a replay reads Stripe instead."""
    age = db_now(session).timestamp() - int(event.get("created") or 0)
    if abs(age) > EVENT_COPY_MAX_AGE:  # late, or from a clock we don't share
        return None
    carried = gw.invoice_from_event(event)
    return carried if carried and carried[0].status in statuses else None


def on_invoice_created(session: Session, event: dict, gw: StripeGateway) -> str:
    """`invoice.created`: the gate (5xx while Stripe does not answer)."""
    return gate_invoice(session, invoice_id=event["data"]["object"]["id"], gateway=gw,
                        known=carried_invoice(session, event, gw, statuses=("draft",)))


def on_invoice_finalized(session: Session, event: dict, gw: StripeGateway) -> str:
    """`invoice.finalized`: reconcile the invoice (and count labelled items as billed)."""
    return gate_invoice(session, invoice_id=event["data"]["object"]["id"], gateway=gw,
                        known=carried_invoice(session, event, gw, statuses=FINAL_STATUSES))


# ---------------------------------------------------------------------------- the re-check job


def recheck_invoices(*, gateway: StripeGateway, engine: sa.Engine | None = None) -> str:
    """Gate what webhooks did not settle. Owns its transactions (one per invoice)."""
    from aether_web.services.stripe_events import run_event

    with transaction(engine) as session:
        now = db_now(session)
        failed = list(session.exec(select(StripeEvent.id).where(
            StripeEvent.type.in_(INVOICE_EVENTS),
            StripeEvent.status.in_(("failed", "pending")),
            StripeEvent.received_at >= now - DRAFT_LOOKBACK)).all())
        checks = {row[0]: row[1] for row in session.exec(
            select(InvoiceCheck.stripe_invoice_id, InvoiceCheck.status).where(
                InvoiceCheck.status != "reconciled",
                InvoiceCheck.created_at >= now - DRAFT_LOOKBACK)).all()}
        reconciled = set(session.exec(select(InvoiceCheck.stripe_invoice_id).where(
            InvoiceCheck.status == "reconciled",
            InvoiceCheck.created_at >= now - DRAFT_LOOKBACK)).all())
    replayed = sum(run_event(event_id, gateway=gateway, engine=engine).http_status == 200
                   for event_id in failed)
    since = int((now - DRAFT_LOOKBACK).timestamp())
    try:
        drafts = gateway.draft_invoice_ids(created_after=since)
        # a renewal Stripe finalized while none of its webhooks was answered (the app down):
        # reconciled here, or its period's overage would be on no invoice
        finals = gateway.final_invoice_ids(created_after=since, billing_reasons=PERIOD_REASONS)
    except StripeUnavailable:
        return f"replayed {replayed}/{len(failed)} invoice events; Stripe not answering"
    gated = errors = 0
    # A draft already gated by its webhook costs nothing more here; a gated invoice no longer
    # among the drafts has been finalized: compare it now (its hook may never come).
    draft_set = set(drafts)
    todo = [i for i in drafts if checks.get(i) != "ready" and i not in reconciled]
    todo += [i for i, status in checks.items() if status == "waiting" or i not in draft_set]
    todo += [i for i in finals if i not in reconciled]
    for invoice_id in dict.fromkeys(todo):
        try:
            with transaction(engine) as session:
                gate_invoice(session, invoice_id=invoice_id, gateway=gateway)
            gated += 1
        except (StripeUnavailable, StripeGatewayError) as exc:
            log.warning("invoice %s not gated yet: %s", invoice_id, exc)
            errors += 1
    return (f"replayed {replayed}/{len(failed)} invoice events; checked {gated} drafts and "
            f"unreconciled invoices, {errors} to retry")

