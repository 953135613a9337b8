"""Plans follow Stripe through the real flows: Checkout, Portal, payment failure and grace."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.models import EmailOutbox, InvoiceRecord, StripeEvent
from tests.integration.stripe_support import (
    Bed,
    CancelUnavailable,
    bed,
    billing_bed,
    wait_until,
)

FIXTURES = (bed, billing_bed)  # used by name by pytest

DECLINED = "4000000000000002"


def _emails(engine, user_id, kind):
    with Session(engine) as s:
        return s.exec(select(EmailOutbox).where(EmailOutbox.user_id == user_id,
                                                EmailOutbox.kind == kind)).all()


def test_checkout_makes_the_user_pro(bed: Bed, make_user, client_for, engine) -> None:
    user = make_user()
    page = bed.checkout(client_for(user), "pro")
    assert page.status_code == 303
    assert "/billing?checkout=success&session_id=cs_test_" in page.headers["location"]
    profile = bed.wait_for_plan(user.id, "pro")
    assert profile.subscription_status == "active"
    assert profile.stripe_customer_id and profile.stripe_subscription_id
    sub = bed.stripe.v1.subscriptions.retrieve(profile.stripe_subscription_id)
    # flat price + both metered overage prices, periods aligned to the calendar month
    keys = sorted(i.price.lookup_key for i in sub["items"].data)
    assert keys == ["aether_compute_overage", "aether_pro_monthly", "aether_storage_overage"]
    end = sub["items"].data[0].current_period_end
    assert end % 86400 == 0 and sub.metadata["aether_user_id"] == str(user.id)
    bed.settle()
    with Session(engine) as s:
        invoices = s.exec(select(InvoiceRecord).where(InvoiceRecord.user_id == user.id)).all()
        failed = s.exec(select(StripeEvent).where(StripeEvent.status == "failed")).all()
    assert [i.status for i in invoices] == ["paid"] and invoices[0].amount_paid_cents > 0
    assert failed == []
    assert len(_emails(engine, user.id, "plan_changed")) == 1
    listed = client_for(user).get("/api/billing/invoices").json()["invoices"]
    assert listed[0]["status"] == "paid" and listed[0]["hosted_invoice_url"].startswith("http")


def test_a_second_checkout_is_refused_while_subscribed(bed: Bed, make_user, client_for) -> None:
    user = make_user()
    client = client_for(user)
    bed.checkout(client, "pro")
    bed.wait_for_plan(user.id, "pro")
    r = client.post("/api/billing/checkout", json={"plan": "team"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_subscribed"


def test_declined_card_leaves_the_user_on_free(bed: Bed, make_user, client_for) -> None:
    user = make_user()
    page = bed.checkout(client_for(user), "pro", card=DECLINED)
    assert page.status_code == 200 and "Your card was declined." in page.text
    assert bed.stripe.v1.subscriptions.list().data == []
    profile = bed.profile(user.id)
    assert profile.plan == "free" and profile.stripe_subscription_id is None
    # one customer per user, kept for the next try
    assert profile.stripe_customer_id


def test_bad_checkout_requests_get_clear_errors(bed: Bed, make_user, client_for, api) -> None:
    client = client_for(make_user())
    assert client.post("/api/billing/checkout", json={"plan": "free"}).json()["error"][
        "code"] == "invalid_plan"
    r = client.post("/api/billing/checkout", content=b"{nope",
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"
    assert api.post("/api/billing/checkout", json={"plan": "pro"}).status_code == 401
    r = client.post("/api/billing/portal")
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_billing_account"


def test_portal_switches_pro_to_team(bed: Bed, make_user, client_for) -> None:
    user = make_user()
    client = client_for(user)
    bed.checkout(client, "pro")
    bed.wait_for_plan(user.id, "pro")
    r = bed.portal(client, "switch", price=bed.plan_price_id("aether_team_monthly"))
    assert r.status_code == 303
    assert bed.wait_for_plan(user.id, "team").subscription_status == "active"


def test_cancel_in_portal_ends_on_free_and_keeps_projects(
        bed: Bed, make_user, make_project, client_for) -> None:
    user = make_user()
    client = client_for(user)
    bed.checkout(client, "pro")
    bed.wait_for_plan(user.id, "pro")
    for i in range(5):
        make_project(user, name=f"proj-{i}")
    assert bed.portal(client, "cancel-now").status_code == 303
    profile = bed.wait_for_plan(user.id, "free")
    assert profile.subscription_status == "canceled"
    from aether_web.services.projects import list_projects

    with Session(bed.engine) as s:
        assert len(list_projects(s, user_id=user.id)) == 5  # nothing deleted
    # ...but Free's cap holds: no sixth project, and no new one at all while over it.
    from aether_web.db import transaction
    from aether_web.errors import LimitReached
    from aether_web.services.projects import create_project

    with pytest.raises(LimitReached), transaction(bed.engine) as s:
        create_project(s, user_id=user.id, name="one-more")
    r = client.post("/api/billing/checkout", json={"plan": "team"})
    assert r.status_code == 200  # canceled: a new subscription can start


def _grace_runs_out(engine, profile) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE profiles SET grace_ends_at = :t WHERE id = :id"),
                     {"t": profile.past_due_since - timedelta(seconds=1),
                      "id": profile.id.hex if engine.dialect.name == "sqlite" else profile.id})


def test_grace_expiry_with_stripe_not_answering_keeps_the_plan_for_the_next_run(
        bed: Bed, make_user, client_for, engine, monkeypatch) -> None:
    from aether_web.jobs import subscriptions as grace_job
    from aether_web.models import PlanIntervalRow

    profile = _past_grace(bed, make_user, client_for, engine, 1)[0]
    mails = len(_emails(engine, profile.id, "plan_changed"))
    monkeypatch.setattr(grace_job, "get_gateway", lambda: CancelUnavailable(bed.gateway))
    outcome = grace_job.expire_grace_periods(None)
    assert outcome.startswith("0 moved")
    # nothing of the grace end was kept: the plan, its history and the mail wait for Stripe
    after = bed.profile(profile.id)
    assert (after.plan, after.subscription_status) == ("pro", "past_due")
    with Session(engine) as s:
        open_intervals = s.exec(select(PlanIntervalRow).where(
            PlanIntervalRow.user_id == profile.id, PlanIntervalRow.ended_at.is_(None))).all()
    assert [iv.plan for iv in open_intervals] == ["pro"]
    assert len(_emails(engine, profile.id, "plan_changed")) == mails
    # the next run, with Stripe answering, ends it
    monkeypatch.setattr(grace_job, "get_gateway", lambda: bed.gateway)
    assert grace_job.expire_grace_periods(None).startswith("1 moved")
    assert bed.profile(profile.id).plan == "free"
    assert bed.stripe.v1.subscriptions.retrieve(profile.stripe_subscription_id).status == \
        "canceled"


def _past_grace(bed: Bed, make_user, client_for, engine, count: int) -> list:
    """`count` Pro users whose renewal failed and whose grace period just ran out, in the
    grace job's order (by id)."""
    users = []
    for _ in range(count):
        user = make_user()
        bed.checkout(client_for(user), "pro")
        profile = bed.wait_for_plan(user.id, "pro")
        bed.settle()
        bed.set_card(profile.stripe_customer_id, DECLINED)
        bed.close_period(profile.stripe_subscription_id)
        users.append(wait_until(lambda u=user: (p := bed.profile(u.id)).past_due_since and p,
                                what="past due"))
    bed.settle()
    for profile in users:
        _grace_runs_out(engine, profile)
    return sorted(users, key=lambda p: p.id)


def test_the_grace_job_ends_each_user_in_a_transaction_of_their_own(
        bed: Bed, make_user, client_for, engine, monkeypatch) -> None:
    from aether_web.db import read_transaction
    from aether_web.jobs.runner import run_job
    from aether_web.models import Profile

    users = _past_grace(bed, make_user, client_for, engine, 2)
    seen = []
    real = bed.gateway.retrieve_subscription

    def retrieve(subscription_id: str):
        # what another connection reads while Stripe is asked about each user
        with read_transaction(engine) as s:
            seen.append(sorted(s.get(Profile, p.id).plan for p in users))
        return real(subscription_id)

    monkeypatch.setattr(bed.gateway, "retrieve_subscription", retrieve)
    monkeypatch.setattr("aether_web.jobs.subscriptions.get_gateway", lambda: bed.gateway)
    outcome = run_job("expire_grace_periods")
    assert outcome.status == "succeeded", outcome.detail
    assert outcome.detail.startswith("2 moved to Free after the grace period, 0 found paid")
    # the first user's end was committed before Stripe was asked about the second
    assert seen[0] == ["pro", "pro"] and ["free", "pro"] in seen[1:]
    assert [bed.profile(p.id).plan for p in users] == ["free", "free"]


def test_a_grace_end_that_fails_holds_back_no_other_user_and_fails_the_run(
        bed: Bed, make_user, client_for, engine, monkeypatch) -> None:
    from aether_web.integrations.stripe import StripeGatewayError
    from aether_web.jobs.runner import run_job

    first, second = _past_grace(bed, make_user, client_for, engine, 2)
    real = bed.gateway.retrieve_subscription

    def retrieve(subscription_id: str):
        if subscription_id == first.stripe_subscription_id:
            raise StripeGatewayError(http_status=404, stripe_message="No such subscription")
        return real(subscription_id)

    monkeypatch.setattr(bed.gateway, "retrieve_subscription", retrieve)
    monkeypatch.setattr("aether_web.jobs.subscriptions.get_gateway", lambda: bed.gateway)
    outcome = run_job("expire_grace_periods")
    # the run says so (monitors, the support console), with what the others got
    assert outcome.status == "failed"
    assert "1 moved to Free after the grace period" in outcome.detail
    assert "1 failed" in outcome.detail
    assert (bed.profile(first.id).plan, bed.profile(second.id).plan) == ("pro", "free")


def test_payment_failure_keeps_the_plan_through_grace_then_cancels_in_stripe(
        bed: Bed, make_user, client_for, engine) -> None:
    from aether_web.jobs.runner import run_job

    user = make_user()
    client = client_for(user)
    bed.checkout(client, "pro")
    profile = bed.wait_for_plan(user.id, "pro")
    bed.settle()
    bed.set_card(profile.stripe_customer_id, DECLINED)
    bed.close_period(profile.stripe_subscription_id)
    profile = wait_until(lambda: (p := bed.profile(user.id)).past_due_since and p,
                         what="past due")
    assert profile.plan == "pro" and profile.subscription_status == "past_due"
    assert timedelta(days=6, hours=23) < profile.grace_ends_at - profile.past_due_since \
        <= timedelta(days=7)
    bed.settle()
    mails = _emails(engine, user.id, "payment_failed")
    assert len(mails) == 1 and "Update your payment method" in mails[0].body
    _grace_runs_out(engine, profile)
    unpaid = profile.stripe_subscription_id
    assert run_job("expire_grace_periods").status == "succeeded"
    # Rule 12: the subscription is cancelled in Stripe (no further invoices), the user is
    # Free at once, the unpaid invoice stays payable, and upgrading again is allowed.
    assert bed.profile(user.id).plan == "free"
    sub = bed.stripe.v1.subscriptions.retrieve(unpaid)
    assert sub.status == "canceled"
    open_invoices = bed.stripe.v1.invoices.list(params={"customer": profile.stripe_customer_id,
                                                        "status": "open"}).data
    assert open_invoices and open_invoices[0].hosted_invoice_url
    bed.set_card(profile.stripe_customer_id, "4242424242424242")
    r = client.post("/api/billing/checkout", json={"plan": "pro"})
    assert r.status_code == 200, r.text
