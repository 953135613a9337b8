"""A subscription's life beyond Checkout (rules 10-12): never two live subscriptions, the
in-app plan switch, cancelling now with the overage so far invoiced, the Portal's immediate
cancel (which invoices no usage), and the end of a payment grace period.

The Portal can't switch a subscription that holds metered prices (Stripe offers such
subscriptions only cancellation), so Pro <-> Team is switched here with Stripe's proration;
the Portal keeps the card, the invoices and cancellation.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlmodel import Session

from aether_web.billing.periods import month_of
from aether_web.billing.plans import Plan, PlanKey
from aether_web.db import db_now, read_transaction, transaction
from aether_web.errors import Conflict, NotFound, ServiceUnavailable
from aether_web.integrations.stripe import (
    LIVE_STATUSES,
    StripeGateway,
    StripeGatewayError,
    StripeUnavailable,
    SubscriptionInfo,
    get_gateway,
)
from aether_web.models import OverageReport, Profile
from aether_web.observability import log
from aether_web.services.accounts import lock_profile
from aether_web.services.invoicing.adjustments import billed_units, record_adjustment
from aether_web.services.invoicing.alerts import billing_alert
from aether_web.services.invoicing.period_overage import (
    ACCEPTED,
    compute_period_overage,
    plan_period_reports,
    send_reports,
)
from aether_web.services.subscriptions import apply_subscription, set_plan


def _live_profile(session: Session, user_id: uuid.UUID) -> Profile:
    profile = session.get(Profile, user_id)
    if profile is None:
        raise NotFound("Account not found.", code="account_not_found")
    if not (profile.stripe_subscription_id and profile.subscription_status in LIVE_STATUSES):
        raise Conflict("You don't have a paid subscription.", code="no_subscription")
    return profile


def _end_paid_plan(session: Session, *, profile: Profile, now: datetime, reason: str,
                   cause: str) -> str:
    """Put the user on Free from `now` before the overage so far is computed, so that the
    paid interval (and its prorated allowance, rule 3) ends at this moment: the final
    invoice then carries what every display shows afterwards. Returns the paid plan held."""
    paid = profile.plan
    set_plan(session, profile=profile, plan=PlanKey.FREE, reason=reason, cause=cause, at=now)
    return paid


def _overage_so_far_in(session: Session, *, profile: Profile, gateway: StripeGateway,
                       now: datetime, plan_key: str) -> None:
    """Plan and send the open month's overage up to now (before an immediate cancel, whose
    final invoice then carries it). The paid interval must already end at `now`."""
    bill = compute_period_overage(session, user_id=profile.id, month=month_of(now), now=now,
                                  plan_key=plan_key)
    # Stamped a second before the cancel (the final invoice bills usage before its moment),
    # and never before the subscription's period began.
    sub = gateway.retrieve_subscription(profile.stripe_subscription_id or "")
    stamp = max(int(now.timestamp()) - 1, sub.current_period_start or 0)
    plan_period_reports(session, profile=profile, bill=bill, timestamp=stamp,
                        plan_key=plan_key)
    send_reports(session, bill=bill, now=now, gateway=gateway)


def _cancel_with_final_invoice(session: Session, *, profile: Profile, gateway: StripeGateway,
                               month: date, idempotency_key: str) -> SubscriptionInfo:
    """Cancel at once with a final invoice (`invoice_now`) crediting the unused flat fee
    (`prorate`). If Stripe does not answer, the month's overage it accepted for this cancel
    is taken back (a meter event adjustment per report) before StripeUnavailable reaches
    the caller, whose transaction then undoes the rest: no value computed for a cancel that
    did not happen stays in Stripe. What can't be taken back is alerted."""
    try:
        return gateway.cancel_subscription(
            subscription_id=profile.stripe_subscription_id or "", invoice_now=True,
            prorate=True, idempotency_key=idempotency_key)
    except StripeUnavailable:
        _take_back_overage(session, user_id=profile.id, month=month, gateway=gateway)
        raise


def _take_back_overage(session: Session, *, user_id: uuid.UUID, month: date,
                       gateway: StripeGateway) -> None:
    t = OverageReport.__table__.c
    sent = session.execute(sa.select(t.meter, t.identifier).where(
        t.user_id == user_id, t.month == month, t.status.in_(ACCEPTED))).all()
    for meter, identifier in sent:
        try:
            gateway.cancel_meter_event(event_name=meter, identifier=identifier)
        except (StripeUnavailable, StripeGatewayError) as exc:
            billing_alert("meter_event_left", f"user {user_id}: {identifier} stays in Stripe "
                                              f"after a cancel Stripe did not answer ({exc})")


def cancel_now(session: Session, *, user_id: uuid.UUID, gateway: StripeGateway) -> str:
    """Cancel at once: the plan ends now, the overage so far (on the allowance prorated to
    this moment) is sent, then the subscription is cancelled with a final invoice
    (`invoice_now`) that credits the unused flat fee (`prorate`). If Stripe does not answer,
    the caller's transaction rolls all of it back."""
    profile = _live_profile(session, user_id)
    lock_profile(session, user_id=profile.id)
    now = db_now(session)
    paid = _end_paid_plan(session, profile=profile, now=now, reason="cancelled now",
                          cause="cancellation")
    try:
        _overage_so_far_in(session, profile=profile, gateway=gateway, now=now, plan_key=paid)
        sub = _cancel_with_final_invoice(
            session, profile=profile, gateway=gateway, month=month_of(now),
            idempotency_key=f"cancel-now-{profile.stripe_subscription_id}")
    except StripeUnavailable as exc:
        raise ServiceUnavailable("Stripe is not answering; nothing was cancelled. Please try "
                                 "again in a minute.", code="stripe_unavailable") from exc
    return apply_subscription(session, profile=profile, sub=sub,
                              event_created=int(now.timestamp()))


def switch_plan(*, user_id: uuid.UUID, plan_key: str | None,
                gateway: StripeGateway | None = None, request_key: str | None = None) -> str:
    """Pro <-> Team on the same subscription; Stripe prorates the flat fee and the included
    amounts follow the plan intervals. Refused (`past_due`) while the last invoice is unpaid.

    Owns its transactions, so that no database lock waits on Stripe: the checks are read in a
    read-only transaction, Stripe is called outside any, and the plan Stripe's subscription
    sells afterwards is recorded in a short transaction (`apply_subscription`, which keeps
    the newest of this answer and any webhook that raced it). Blocking: API routes and event
    handlers run it on a worker thread.

    The idempotency key is unique per switch request (`request_key`, the client's
    Idempotency-Key when it sent one, else a new random one), so the gateway's retries of one
    request are deduplicated by Stripe while Pro -> Team -> Pro -> Team sends a new key each
    time. A subscription that already sells `plan_key` in Stripe is not updated again (a
    request repeated after Stripe applied it)."""
    from aether_web.services.billing import paid_plan

    plan = paid_plan(plan_key)
    with read_transaction() as session:
        profile = _live_profile(session, user_id)
        if profile.plan == plan.key:
            raise Conflict(f"You are on {plan.name} already.", code="same_plan")
        if profile.subscription_status == "past_due" or profile.past_due_since is not None:
            raise Conflict("Your last payment failed: pay the open invoice or update your "
                           "card in the billing portal before changing plans.",
                           code="past_due")
        subscription_id = profile.stripe_subscription_id or ""
    sub = _switched_subscription(gateway or get_gateway(), subscription_id=subscription_id,
                                 plan=plan, request_key=request_key or uuid.uuid4().hex)
    with transaction() as session:
        profile = _live_profile(session, user_id)
        return apply_subscription(session, profile=profile, sub=sub,
                                  event_created=int(db_now(session).timestamp()))


def _switched_subscription(gateway: StripeGateway, *, subscription_id: str, plan: Plan,
                           request_key: str) -> SubscriptionInfo:
    """Stripe's subscription once it sells `plan` (called outside any transaction)."""
    try:
        current = gateway.retrieve_subscription(subscription_id)
        price = gateway.price_ids_by_lookup_key([plan.stripe_lookup_key]).get(
            plan.stripe_lookup_key)
        if price is None or current.licensed_item_id is None:
            raise ServiceUnavailable("Plan changes are not available right now.",
                                     code="billing_not_configured")
        sub = current
        if current.plan_key != plan.key:
            sub = gateway.switch_subscription_price(
                subscription_id=current.id, item_id=current.licensed_item_id, price_id=price,
                idempotency_key=f"switch-{current.id}-{plan.key}-{request_key}")
        if sub.plan_key != plan.key:  # not the answer to this request: read Stripe again
            sub = gateway.retrieve_subscription(current.id)
    except StripeUnavailable as exc:
        raise ServiceUnavailable("Stripe is not answering; your plan is unchanged. Please "
                                 "try again in a minute.", code="stripe_unavailable") from exc
    return sub


def refuse_second_subscription(session: Session, *, profile: Profile, sub: SubscriptionInfo,
                               gateway: StripeGateway) -> str | None:
    """A second live subscription (two Checkout tabs paid): cancel it at once and refund its
    invoice. Returns what was done, or None when `sub` is the user's only subscription."""
    current_id = profile.stripe_subscription_id
    if not sub.is_live or not current_id or current_id == sub.id:
        return None
    current = gateway.retrieve_subscription(current_id)
    if not current.is_live:
        return None
    gateway.cancel_subscription(subscription_id=sub.id, invoice_now=False, prorate=False,
                                idempotency_key=f"cancel-duplicate-{sub.id}")
    refunds = []
    if sub.latest_invoice_id:
        refunds = gateway.refund_invoice(invoice_id=sub.latest_invoice_id,
                                         idempotency_key=f"refund-duplicate-{sub.id}")
    billing_alert("second_subscription", f"user {profile.id}: {sub.id} cancelled and "
                                         f"refunded ({len(refunds)} refunds); {current_id} kept")
    return (f"second subscription {sub.id} cancelled and refunded ({len(refunds)} refunds); "
            f"{current_id} kept")


def cancelled_without_final_invoice(session: Session, *, profile: Profile,
                                    sub: SubscriptionInfo, gateway: StripeGateway) -> str | None:
    """The Portal's immediate cancel invoices no usage: the month's overage so far gets an
    invoice of its own (a labelled item). None when a final invoice exists."""
    if sub.status != "canceled" or not sub.ended_at or not sub.current_period_end:
        return None
    if sub.ended_at >= sub.current_period_end:
        return None  # ended at the period's end: its final invoice carries the usage
    if sub.latest_invoice_id:
        latest = gateway.retrieve_invoice(sub.latest_invoice_id)
        if latest.created >= sub.ended_at - 60 and latest.billing_reason != "subscription_create":
            return None  # invoice_now: the gate reconciles that final invoice
    ended = min(datetime.fromtimestamp(sub.ended_at, UTC), db_now(session))
    plan_key = sub.plan_key or PlanKey.PRO
    _end_paid_plan(session, profile=profile, now=ended, reason="subscription canceled",
                   cause="cancellation")
    bill = compute_period_overage(session, user_id=profile.id, month=month_of(ended),
                                  now=ended, plan_key=plan_key)
    plan_period_reports(session, profile=profile, bill=bill, timestamp=sub.ended_at,
                        plan_key=plan_key)
    done = billed_units(session, user_id=profile.id, month=bill.month)
    added = []
    for meter, units in bill.units.items():
        row = record_adjustment(session, profile=profile, month=bill.month, meter=meter,
                                units=units - done.get(meter, 0), reason="no_final_invoice")
        if row is not None:
            added.append(f"{meter} {row.units}")
    return f"cancelled without a final invoice; labelled items: {', '.join(added) or 'none'}"


def end_grace(session: Session, *, profile: Profile, gateway: StripeGateway) -> str:
    """Day 7 of a failed payment: cancel in Stripe with a final invoice for the overage so
    far and the unused flat fee credited; unpaid invoices stay payable; the user is Free
    now and can upgrade again at once. The plan ends at this moment, before the overage so
    far is computed (its allowance prorated to it). StripeUnavailable propagates (decided
    next tick): the caller rolls back to before this call."""
    now = db_now(session)
    outcome = "no subscription in Stripe"
    if profile.stripe_subscription_id and profile.subscription_status in LIVE_STATUSES:
        paid = _end_paid_plan(session, profile=profile, now=now, reason="grace period ended",
                              cause="grace_expiry")
        _overage_so_far_in(session, profile=profile, gateway=gateway, now=now, plan_key=paid)
        try:
            sub = _cancel_with_final_invoice(
                session, profile=profile, gateway=gateway, month=month_of(now),
                idempotency_key=f"grace-end-{profile.stripe_subscription_id}")
        except StripeGatewayError as exc:
            log.warning("grace end: cancelling %s refused: %s", profile.stripe_subscription_id,
                        exc.stripe_message)
            sub = gateway.retrieve_subscription(profile.stripe_subscription_id)
        profile.subscription_status = sub.status
        outcome = f"subscription {sub.id} {sub.status}"
    profile.past_due_since = None
    profile.grace_ends_at = None
    session.add(profile)
    changed = set_plan(session, profile=profile, plan=PlanKey.FREE, reason="grace period ended",
                       cause="grace_expiry")
    return f"{changed}; {outcome}"
