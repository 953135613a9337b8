"""What each Stripe webhook event type does (`HANDLERS`), called by `services.stripe_events`
in the event's transaction. A handler applies Stripe's current state (re-fetched) and returns
its outcome in words ("ignored: ..." marks the event ignored)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, select

from aether_web.billing.money import format_cents
from aether_web.db import db_now
from aether_web.integrations.stripe import (
    StripeGateway,
    checkout_from_stripe,
    invoice_from_stripe,
)
from aether_web.integrations.stripe.objects import InvoiceInfo
from aether_web.models import InvoiceRecord, Profile
from aether_web.services.accounts import lock_profile
from aether_web.services.email import queue_email
from aether_web.services.invoicing.invoice_gate import (
    FINAL_STATUSES,
    carried_invoice,
    gate_invoice,
    on_invoice_created,
    on_invoice_finalized,
)
from aether_web.services.subscription_lifecycle import (
    cancelled_without_final_invoice,
    refuse_second_subscription,
)
from aether_web.services.subscriptions import apply_subscription, find_profile, start_grace
from aether_web.settings import get_settings

Handler = Callable[[Session, dict[str, Any], StripeGateway], str]


def _ts(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def on_checkout_completed(session: Session, event: dict[str, Any], gw: StripeGateway) -> str:
    """Link the customer and subscription to the user and apply the subscription."""
    cs = checkout_from_stripe(event["data"]["object"])
    profile = find_profile(session, user_id=cs.user_id, customer_id=cs.customer_id)
    if profile is None:
        return f"ignored: no user for checkout {cs.id}"
    if cs.customer_id and not profile.stripe_customer_id:
        profile.stripe_customer_id = cs.customer_id
    if not cs.subscription_id:
        return "checkout has no subscription yet"
    lock_profile(session, user_id=profile.id)
    sub = gw.retrieve_subscription(cs.subscription_id)
    refused = refuse_second_subscription(session, profile=profile, sub=sub, gateway=gw)
    if refused:
        return refused
    return apply_subscription(session, profile=profile, sub=sub, event_created=event["created"])


def on_subscription_changed(session: Session, event: dict[str, Any], gw: StripeGateway) -> str:
    """customer.subscription.created|updated|deleted: apply Stripe's current subscription."""
    obj = event["data"]["object"]
    customer = obj.get("customer")
    customer_id = customer.get("id") if isinstance(customer, dict) else customer
    profile = find_profile(session, customer_id=customer_id,
                           user_id=(obj.get("metadata") or {}).get("aether_user_id"))
    if profile is None:
        return f"ignored: no user for customer {customer_id}"
    lock_profile(session, user_id=profile.id)
    sub = gw.retrieve_subscription(obj["id"])
    refused = refuse_second_subscription(session, profile=profile, sub=sub, gateway=gw)
    if refused:
        return refused
    unbilled = ""
    if event["type"] == "customer.subscription.deleted" and (
            profile.stripe_subscription_id in (None, sub.id)):
        unbilled = cancelled_without_final_invoice(session, profile=profile, sub=sub,
                                                   gateway=gw) or ""
    if profile.stripe_synced_at is not None and event["created"] < profile.stripe_synced_at:
        return (f"stale: created {event['created']} < last applied {profile.stripe_synced_at}"
                f"{'; ' + unbilled if unbilled else ''}")
    outcome = apply_subscription(session, profile=profile, sub=sub,
                                 event_created=event["created"])
    return f"{outcome}; {unbilled}" if unbilled else outcome


def _record_invoice(session: Session, profile: Profile, inv: InvoiceInfo, status: str,
                    event_created: int) -> InvoiceRecord:
    row = session.exec(
        select(InvoiceRecord).where(InvoiceRecord.stripe_invoice_id == inv.id)).first()
    if row is None:
        row = InvoiceRecord(stripe_invoice_id=inv.id, user_id=profile.id, status=status)
    elif row.status == "paid" and status != "paid":
        return row  # paid is final: a late failure event must not reopen it
    elif event_created < row.stripe_event_created and status != "paid":
        return row
    row.status = status
    row.stripe_subscription_id = inv.subscription_id
    row.number = inv.number
    row.currency = inv.currency
    row.total_cents = inv.total
    row.amount_paid_cents = inv.amount_paid
    row.amount_due_cents = inv.amount_due
    row.period_start = _ts(inv.period_start)
    row.period_end = _ts(inv.period_end)
    row.hosted_invoice_url = inv.hosted_invoice_url
    row.invoice_created = _ts(inv.created)
    row.paid_at = _ts(inv.paid_at)
    row.stripe_event_created = max(row.stripe_event_created or 0, event_created)
    row.updated_at = db_now(session)
    session.add(row)
    return row


def on_invoice_paid(session: Session, event: dict[str, Any], gw: StripeGateway) -> str:
    """Record the payment; a paid invoice of the current subscription ends past-due."""
    inv = invoice_from_stripe(event["data"]["object"])
    profile = find_profile(session, customer_id=inv.customer_id)
    if profile is None:
        return f"ignored: no user for customer {inv.customer_id}"
    _record_invoice(session, profile, inv, "paid", event["created"])
    outcome = f"payment of {format_cents(inv.amount_paid)} recorded"
    if inv.subscription_id and inv.subscription_id == profile.stripe_subscription_id:
        sub = gw.retrieve_subscription(inv.subscription_id)
        outcome += "; " + apply_subscription(session, profile=profile, sub=sub,
                                             event_created=profile.stripe_synced_at or 0)
    known = carried_invoice(session, event, gw, statuses=FINAL_STATUSES)
    return f"{outcome}; {gate_invoice(session, invoice_id=inv.id, gateway=gw, known=known)}"


def on_invoice_payment_failed(session: Session, event: dict[str, Any], gw: StripeGateway) -> str:
    """Past due: keep the paid plan through the grace period, and tell the user."""
    inv = invoice_from_stripe(event["data"]["object"])
    profile = find_profile(session, customer_id=inv.customer_id)
    if profile is None:
        return f"ignored: no user for customer {inv.customer_id}"
    current = gw.retrieve_invoice(inv.id)
    if current.status == "paid":
        _record_invoice(session, profile, current, "paid", event["created"])
        return "ignored: the invoice has been paid since"
    _record_invoice(session, profile, inv, "payment_failed", event["created"])
    if profile.plan == "free" or inv.subscription_id != profile.stripe_subscription_id:
        return "payment failed on a subscription the user is not on; nothing to keep"
    now = db_now(session)
    start_grace(profile, now=now)
    profile.subscription_status = "past_due"
    session.add(profile)
    _payment_failed_email(session, profile, inv)
    return f"past due; grace until {profile.grace_ends_at:%Y-%m-%d %H:%M} UTC"


def _payment_failed_email(session: Session, profile: Profile, inv: InvoiceInfo) -> None:
    url = f"{get_settings().public_url.rstrip('/')}/billing"
    grace = profile.grace_ends_at.strftime("%B %d, %Y") if profile.grace_ends_at else "soon"
    body = (
        f"We couldn't charge your card for your aether invoice of {format_cents(inv.amount_due)}."
        f"\n\nYou keep your current plan until {grace}. Please update your payment method "
        f"before then, or your account moves to the Free plan (nothing is deleted).\n\n"
        f"Update your payment method: {url}\n"
    )
    queue_email(session, to=profile.email, subject="Your aether payment failed",
                body=body, kind="payment_failed", user_id=profile.id)


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": on_checkout_completed,
    "customer.subscription.created": on_subscription_changed,
    "customer.subscription.updated": on_subscription_changed,
    "customer.subscription.deleted": on_subscription_changed,
    "invoice.created": on_invoice_created,
    "invoice.finalized": on_invoice_finalized,
    "invoice.paid": on_invoice_paid,
    "invoice.payment_failed": on_invoice_payment_failed,
}
