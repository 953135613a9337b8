"""Paying for aether: the Stripe customer, Checkout, the Customer Portal, invoices and the
billing summary the /billing page and the API show."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, select

from aether_web.billing.periods import month_end
from aether_web.billing.plans import PLANS, Plan, PlanKey, get_plan
from aether_web.db import db_now, read_transaction, transaction
from aether_web.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceUnavailable
from aether_web.integrations.stripe import (
    LIVE_STATUSES,
    METERS,
    StripeGateway,
    StripeGatewayError,
    StripeUnavailable,
    get_gateway,
)
from aether_web.models import InvoiceRecord, Profile
from aether_web.observability import log
from aether_web.services.accounts import lock_profile
from aether_web.settings import get_settings

UNVERIFIED_CHECKOUT = ("Confirm your email address before starting a paid plan: open the link "
                       "we emailed you, or send a new one.")


def _profile(session: Session, user_id: uuid.UUID) -> Profile:
    profile = session.get(Profile, user_id)
    if profile is None:
        raise NotFound("Account not found.", code="account_not_found")
    return profile


def paid_plan(plan_key: str | None) -> Plan:
    """The Pro or Team plan for a key from the browser, or InvalidInput."""
    plan = PLANS.get(str(plan_key or "").strip().lower())
    if plan is None or not plan.is_paid:
        raise InvalidInput("Choose the Pro or Team plan.", code="invalid_plan",
                           fields={"plan": "Choose pro or team."})
    return plan


def next_month_anchor(now: datetime) -> int:
    """The first second of the next UTC month: Stripe periods then match calendar months,
    which is how usage and overage are counted."""
    return int(month_end(now.astimezone(UTC)).timestamp())


def has_live_subscription(profile: Profile) -> bool:
    return bool(profile.stripe_subscription_id) and profile.subscription_status in LIVE_STATUSES


@dataclass(frozen=True)
class CheckoutRequest:
    """What a Checkout needs, read from the account (`checkout_request`)."""
    user_id: uuid.UUID
    email: str
    customer_id: str | None
    plan: Plan
    billing_cycle_anchor: int


def checkout_request(session: Session, *, user_id: uuid.UUID, plan_key: str | None
                     ) -> CheckoutRequest:
    """Whether the user may start a Checkout for `plan_key`, and for which customer.

    Raises InvalidInput for a plan other than Pro or Team, Forbidden (`email_unverified`)
    until the user's email address is confirmed, Conflict when the user already has a
    subscription (plan changes are the app's own switch)."""
    plan = paid_plan(plan_key)
    profile = _profile(session, user_id)
    if profile.email_verified_at is None:
        raise Forbidden(UNVERIFIED_CHECKOUT, code="email_unverified")
    if has_live_subscription(profile):
        raise Conflict("You already have a subscription. Switch between Pro and Team on this "
                       "page.", code="already_subscribed")
    return CheckoutRequest(user_id=profile.id, email=profile.email,
                           customer_id=profile.stripe_customer_id, plan=plan,
                           billing_cycle_anchor=next_month_anchor(db_now(session)))


def record_checkout(session: Session, *, user_id: uuid.UUID, customer_id: str) -> None:
    """After a Checkout was created: the user's Stripe customer is kept (the first one wins;
    Stripe's idempotency key gives two racing first Checkouts the same one), and the plan
    chosen before sign-up has had its Checkout."""
    lock_profile(session, user_id=user_id)
    profile = _profile(session, user_id)
    session.refresh(profile)
    if not profile.stripe_customer_id:
        profile.stripe_customer_id = customer_id
    elif profile.stripe_customer_id != customer_id:
        log.warning("user %s: Checkout made for customer %s, the account keeps %s (the "
                    "webhook links the user by the session's metadata)", user_id, customer_id,
                    profile.stripe_customer_id)
    profile.signup_plan = None
    session.add(profile)


def create_checkout(request: CheckoutRequest, *, gateway: StripeGateway) -> tuple[str, str]:
    """Stripe's part of a Checkout (flat price + metered overage): the customer, created on
    first need under an idempotency key, and the session. Returns (customer id, URL).

    Raises ServiceUnavailable when the catalogue is not set up. The user's other open
    Checkout sessions are expired once this one exists, so two tabs can't both be paid: of two
    racing requests each expires the other's session if it sees it, and at least one of them
    does, so at most one stays open."""
    plan = request.plan
    keys = [plan.stripe_lookup_key, *METERS]
    prices = gateway.price_ids_by_lookup_key(keys)
    missing = [k for k in keys if k not in prices]
    if missing:
        log.error("stripe catalogue incomplete, missing %s: run `python -m aether_web stripe "
                  "setup`", ", ".join(missing))
        raise ServiceUnavailable("Upgrades are not available right now. Please try again later.",
                                 code="billing_not_configured")
    customer_id = request.customer_id or gateway.create_customer(
        user_id=str(request.user_id), email=request.email)
    base = get_settings().public_url.rstrip("/")
    session_id, url = gateway.create_checkout_session(
        customer_id=customer_id, user_id=str(request.user_id), plan_key=plan.key,
        price_ids=[prices[plan.stripe_lookup_key]],
        metered_price_ids=[prices[k] for k in METERS],
        billing_cycle_anchor=request.billing_cycle_anchor,
        success_url=f"{base}/billing?checkout=success&session_id={{CHECKOUT_SESSION_ID}}",
        cancel_url=f"{base}/billing?checkout=canceled",
    )
    gateway.expire_open_checkouts(customer_id=customer_id, keep=session_id)
    return customer_id, url


def checkout_url(*, user_id: uuid.UUID, plan_key: str | None,
                 gateway: StripeGateway | None = None) -> str:
    """A Stripe Checkout URL for subscribing to Pro or Team.

    Owns its transactions, so that no database lock waits on Stripe: the checks are read in a
    read-only transaction, Stripe is called outside any, and the customer and the consumed
    sign-up plan are written in a short transaction afterwards. Blocking: API routes and event
    handlers run it on a worker thread."""
    with read_transaction() as session:
        request = checkout_request(session, user_id=user_id, plan_key=plan_key)
    customer_id, url = create_checkout(request, gateway=gateway or get_gateway())
    with transaction() as session:
        record_checkout(session, user_id=user_id, customer_id=customer_id)
    return url


def sync_customer_email(*, customer_id: str, email: str,
                        gateway: StripeGateway | None = None) -> bool:
    """After an email change commits: Stripe's receipts and invoices go to the new address.
    Outside any transaction; a Stripe that doesn't answer is logged, not fatal (the change
    stands, and the Portal shows the address Stripe has). True when Stripe took it."""
    try:
        (gateway or get_gateway()).update_customer_email(customer_id=customer_id, email=email)
    except (StripeGatewayError, StripeUnavailable) as exc:
        log.warning("customer %s: email not updated in Stripe (%s)", customer_id, exc)
        return False
    return True


def portal_url(*, user_id: uuid.UUID, gateway: StripeGateway | None = None) -> str:
    """A Customer Portal URL (the card, invoices, cancellation).

    Owns its transaction: the customer is read in a read-only one and Stripe is called after
    it ends. Blocking: API routes and event handlers run it on a worker thread."""
    with read_transaction() as session:
        customer_id = _profile(session, user_id).stripe_customer_id
    if not customer_id:
        raise Conflict("You don't have a subscription yet. Choose a plan to upgrade.",
                       code="no_billing_account")
    base = get_settings().public_url.rstrip("/")
    return (gateway or get_gateway()).create_portal_session(customer_id=customer_id,
                                                           return_url=f"{base}/billing")


def list_invoices(session: Session, *, user_id: uuid.UUID, limit: int = 24) -> list[InvoiceRecord]:
    """The user's invoices, newest first, as recorded from Stripe's invoice events."""
    return list(session.exec(
        select(InvoiceRecord).where(InvoiceRecord.user_id == user_id)
        .order_by(InvoiceRecord.invoice_created.desc()).limit(limit)).all())


def invoice_json(row: InvoiceRecord) -> dict:
    """An invoice for the API and the page."""
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": row.stripe_invoice_id, "number": row.number, "status": row.status,
        "currency": row.currency, "total_cents": row.total_cents,
        "amount_paid_cents": row.amount_paid_cents, "amount_due_cents": row.amount_due_cents,
        "period_start": iso(row.period_start), "period_end": iso(row.period_end),
        "created": iso(row.invoice_created), "paid_at": iso(row.paid_at),
        "hosted_invoice_url": row.hosted_invoice_url,
    }


@dataclass(frozen=True)
class BillingSummary:
    """What the billing page shows about the user's plan and subscription."""

    plan: str
    plan_name: str
    monthly_price_cents: int
    subscription_status: str | None
    has_subscription: bool
    has_billing_account: bool
    past_due: bool
    grace_ends_at: datetime | None


def billing_summary(session: Session, *, user_id: uuid.UUID) -> BillingSummary:
    """The user's plan and subscription state."""
    profile = _profile(session, user_id)
    plan = get_plan(profile.plan)
    return BillingSummary(
        plan=plan.key, plan_name=plan.name, monthly_price_cents=plan.monthly_price_cents,
        subscription_status=profile.subscription_status,
        has_subscription=has_live_subscription(profile),
        has_billing_account=bool(profile.stripe_customer_id),
        past_due=profile.past_due_since is not None and profile.plan != PlanKey.FREE,
        grace_ends_at=profile.grace_ends_at,
    )
