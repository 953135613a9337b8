"""Keep a user's plan equal to their Stripe subscription, with a grace period on failed payments.

The subscription passed in is always Stripe's current state (re-fetched), so applying it is
correct whatever order events arrive in; `stripe_synced_at` keeps the newest event applied.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.billing.plans import PlanKey, get_plan
from aether_web.db import db_now
from aether_web.integrations.stripe import (
    LIVE_STATUSES,
    PAYING_STATUSES,
    StripeGateway,
    StripeUnavailable,
    SubscriptionInfo,
)
from aether_web.models import Profile
from aether_web.observability import log
from aether_web.services.accounts import lock_profile
from aether_web.services.email import queue_email
from aether_web.services.plan_history import change_plan
from aether_web.settings import get_settings

ENDED_STATUSES = ("canceled", "unpaid", "incomplete_expired")


def entitled_plan(
    *, status: str, plan_key: str | None, current_plan: str, grace_ends_at: datetime | None,
    now: datetime,
) -> str:
    """The plan a user is entitled to for a subscription in `status` selling `plan_key`.

    active/trialing: the subscription's plan. past_due: the paid plan until the grace period
    ends, then Free. Ended: Free. incomplete (first payment not made): unchanged.
    """
    if status in PAYING_STATUSES:
        return plan_key or current_plan
    if status == "past_due":
        if grace_ends_at is not None and grace_ends_at <= now:
            return PlanKey.FREE
        return plan_key or current_plan
    if status in ENDED_STATUSES:
        return PlanKey.FREE
    return current_plan


def find_profile(
    session: Session, *, customer_id: str | None = None, user_id: str | None = None
) -> Profile | None:
    """The profile for a Stripe customer, else for our user id (from metadata), row-locked:
    an event that arrives while the account changes (e.g. its deletion, which cancels the
    subscription before it commits) waits and then sees the committed row."""
    if customer_id:
        found = session.exec(
            select(Profile).where(Profile.stripe_customer_id == customer_id)
            .with_for_update()).first()
        if found is not None:
            return found
    if user_id:
        try:
            return session.get(Profile, uuid.UUID(str(user_id)), with_for_update=True)
        except ValueError:
            return None
    return None


def _plan_changed_email(session: Session, profile: Profile, old: str, new: str) -> None:
    new_plan, old_plan = get_plan(new), get_plan(old)
    if new == PlanKey.FREE:
        body = (f"Your aether plan is now Free (it was {old_plan.name}).\n\n"
                "Your projects and files are all still there. Free includes "
                f"{new_plan.max_projects} projects and {new_plan.compute_hours} compute hours a "
                "month; projects over that stay, but you can't create or start more until you "
                f"upgrade again.\n\nUpgrade any time: {get_settings().public_url}/billing\n")
    else:
        body = (f"You're on aether {new_plan.name} now (it was {old_plan.name}).\n\n"
                f"{new_plan.name} includes {new_plan.compute_hours} compute hours and "
                f"{new_plan.storage_gb} GB of storage a month.\n\n"
                f"{_this_month_note(session, profile)}"
                f"Manage your subscription: {get_settings().public_url}/billing\n")
    queue_email(session, to=profile.email, subject=f"Your aether plan is now {new_plan.name}",
                body=body, kind="plan_changed", user_id=profile.id)


def _cause(old: str, new: str, status: str | None) -> str:
    if old == PlanKey.FREE:
        return "checkout"
    if new != PlanKey.FREE:
        return "switch"
    return "grace_expiry" if status == "past_due" else "cancellation"


def _this_month_note(session: Session, profile: Profile) -> str:
    """This month's allowance after the change, from the period bill (rules 3 and 4)."""
    from aether_web.billing.money import format_duration, format_gb_hours
    from aether_web.billing.periods import month_of
    from aether_web.services.period_bill import period_bill

    now = db_now(session)
    bill = period_bill(session, user_id=profile.id, month=month_of(now), now=now)
    return (f"This month ({now:%B %Y}) is prorated by the days on each plan: it includes "
            f"{format_duration(bill.included_compute_seconds)} of compute and "
            f"{format_gb_hours(bill.included_storage_gb_hours)} of storage in all. Hours "
            "used on Free don't count against it.\n\n")


def set_plan(session: Session, *, profile: Profile, plan: str, reason: str,
             cause: str | None = None, at: datetime | None = None) -> str:
    """Change the plan from `at` (database time by default; never deleting anything), record
    the plan interval it starts in the same transaction (`plan_history.change_plan`), and
    tell the user. Returns an outcome."""
    cause = cause or _cause(profile.plan, plan, profile.subscription_status)
    old = change_plan(session, profile=profile, plan=plan, cause=cause, at=at)
    if old is None or old == plan:
        return f"plan stays {plan}"
    _plan_changed_email(session, profile, old, plan)
    log.info("plan of user %s: %s -> %s (%s)", profile.id, old, plan, reason)
    return f"plan {old} -> {plan}"


def apply_subscription(
    session: Session, *, profile: Profile, sub: SubscriptionInfo, event_created: int
) -> str:
    """Make the profile follow Stripe's current state of `sub`. Returns what changed."""
    now = db_now(session)
    if (profile.stripe_subscription_id and profile.stripe_subscription_id != sub.id
            and not sub.is_live):
        # An older subscription ending must not cancel the one the user has now.
        return f"ignored: {sub.id} is not the current subscription"
    if profile.stripe_subscription_id != sub.id and sub.status == "incomplete":
        return f"ignored: {sub.id} is not paid yet"
    profile.stripe_subscription_id = sub.id
    if sub.customer_id and not profile.stripe_customer_id:
        profile.stripe_customer_id = sub.customer_id
    profile.subscription_status = sub.status
    profile.stripe_synced_at = max(profile.stripe_synced_at or 0, event_created)
    if sub.status == "past_due":
        start_grace(profile, now=now)
    elif sub.status in PAYING_STATUSES or sub.status in ENDED_STATUSES:
        profile.past_due_since = None
        profile.grace_ends_at = None
    if sub.plan_key is None and sub.status in LIVE_STATUSES:
        log.error("subscription %s sells no known plan; user %s keeps %s", sub.id, profile.id,
                  profile.plan)
    plan = entitled_plan(status=sub.status, plan_key=sub.plan_key, current_plan=profile.plan,
                         grace_ends_at=profile.grace_ends_at, now=now)
    session.add(profile)
    outcome = set_plan(session, profile=profile, plan=plan, reason=f"subscription {sub.status}",
                       at=_ended_at(sub, now))
    return f"{outcome}; status {sub.status}"


def _ended_at(sub: SubscriptionInfo, now: datetime) -> datetime | None:
    """When a cancelled subscription's plan ended: Stripe's `ended_at` (rule 2: the plan
    history follows what happened, not when the webhook arrived), never later than now.
    None (database time) for any other change."""
    if sub.status != "canceled" or not sub.ended_at:
        return None
    return min(datetime.fromtimestamp(sub.ended_at, UTC), now)


def start_grace(profile: Profile, *, now: datetime) -> bool:
    """Enter past-due (once): the paid plan is kept until `grace_ends_at`."""
    if profile.past_due_since is not None:
        return False
    profile.past_due_since = now
    profile.grace_ends_at = now + timedelta(days=get_settings().grace_period_days)
    return True


def _grace_over(now: datetime) -> Any:
    return sa.and_(Profile.grace_ends_at.is_not(None), Profile.grace_ends_at <= now,
                   # a webhook may have made them Free already: Stripe still bills
                   sa.or_(Profile.plan != PlanKey.FREE, Profile.subscription_status == "past_due"))


def grace_ended(session: Session) -> list[uuid.UUID]:
    """The users whose payment grace period is over and who still hold the paid plan."""
    return list(session.exec(select(Profile.id).where(_grace_over(db_now(session)))
                             .order_by(Profile.id)).all())


def expire_grace(session: Session, *, user_id: uuid.UUID,
                 gateway: StripeGateway | None = None) -> str:
    """One user whose grace period ended: `moved` to Free, the subscription cancelled in
    Stripe with a final invoice (rule 12); `kept` when Stripe now shows it paid (a lost
    webhook must not downgrade a paying user); `waiting` when Stripe did not answer (the
    next run decides; nothing of it is kept); `none` when it is no longer due."""
    lock_profile(session, user_id=user_id)  # then checked again: a webhook may have paid it
    profile = session.exec(select(Profile).where(Profile.id == user_id,
                                                 _grace_over(db_now(session)))).first()
    if profile is None:
        return "none"
    if gateway is not None and profile.stripe_subscription_id:
        try:
            sub = gateway.retrieve_subscription(profile.stripe_subscription_id)
        except StripeUnavailable:
            return "waiting"
        if sub.status in PAYING_STATUSES:
            apply_subscription(session, profile=profile, sub=sub,
                               event_created=profile.stripe_synced_at or 0)
            return "kept"
    if gateway is None:
        set_plan(session, profile=profile, plan=PlanKey.FREE, reason="grace period ended",
                 cause="grace_expiry")
        return "moved"
    from aether_web.services.subscription_lifecycle import end_grace

    try:
        with session.begin_nested():  # Stripe not answering undoes the plan change
            end_grace(session, profile=profile, gateway=gateway)
    except StripeUnavailable:
        return "waiting"  # cancelled in Stripe on the next run; the plan waits for it
    return "moved"


def grace_summary(outcomes: list[str]) -> str:
    """The run log's line for a run of `expire_grace` over the due users."""
    failed = f", {outcomes.count('failed')} failed" if "failed" in outcomes else ""
    return (f"{outcomes.count('moved')} moved to Free after the grace period, "
            f"{outcomes.count('kept')} found paid, {outcomes.count('waiting')} waiting for "
            f"Stripe{failed}")
