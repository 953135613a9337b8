"""Deleting an account: the subscription ends in Stripe at once, VMs stop, personal data goes,
invoices and usage stay under a pseudonym; the password is required."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from aether_web.db import transaction
from aether_web.errors import NotFound, Unauthenticated
from aether_web.integrations.vm_provider import SimulatedProvider
from aether_web.models import (
    AccountToken,
    AuthSession,
    EmailOutbox,
    InvoiceRecord,
    Profile,
    Project,
    Run,
    StripeEvent,
)
from aether_web.services import account_deletion, vms
from aether_web.services.email import queue_email
from tests.integration.stripe_support import Bed, bed, billing_bed

FIXTURES = (bed, billing_bed)
PASSWORD = "correct-horse-battery"


class CountingProvider(SimulatedProvider):
    def __init__(self) -> None:
        self.stopped: list[str] = []

    def stop(self, *, machine_id: str) -> None:
        self.stopped.append(machine_id)


def _delete(engine, bed: Bed, user, password=PASSWORD, provider=None):
    with transaction(engine) as s:
        account_deletion.delete_account(s, user_id=user.id, password=password,
                                        gateway=bed.gateway, provider=provider)


def test_deleting_a_pro_account(bed: Bed, make_user, make_project, client_for, engine,
                                api) -> None:
    user = make_user(email="leaving@example.com", name="Lea Ving")
    client = client_for(user)
    bed.checkout(client, "pro")
    profile = bed.wait_for_plan(user.id, "pro")
    bed.settle()
    provider = CountingProvider()
    project = make_project(user, name="thesis")
    with transaction(engine) as s:
        vms.start_project(s, user_id=user.id, project_id=project.id, provider=provider)
        queue_email(s, to=user.email, subject="hi", body="personal", user_id=user.id)

    with pytest.raises(Unauthenticated):
        _delete(engine, bed, user, password="not the password", provider=provider)
    assert bed.profile(user.id).email == "leaving@example.com"  # nothing happened

    _delete(engine, bed, user, provider=provider)
    sub = bed.stripe.v1.subscriptions.retrieve(profile.stripe_subscription_id)
    assert sub.status == "canceled"
    assert len(provider.stopped) == 1
    bed.settle()
    with Session(engine) as s:
        gone = s.get(Profile, user.id)
        runs = s.exec(select(Run).where(Run.user_id == user.id)).all()
        invoices = s.exec(select(InvoiceRecord).where(InvoiceRecord.user_id == user.id)).all()
        kept_project = s.get(Project, project.id)
        failed = s.exec(select(StripeEvent).where(StripeEvent.status == "failed")).all()
        leftovers = {
            "sessions": s.exec(select(AuthSession).where(AuthSession.user_id == user.id)).all(),
            "tokens": s.exec(select(AccountToken).where(AccountToken.user_id == user.id)).all(),
            "mail": s.exec(select(EmailOutbox).where(EmailOutbox.user_id == user.id)).all(),
            "mail_to": s.exec(select(EmailOutbox).where(
                EmailOutbox.to == "leaving@example.com")).all(),
        }
    assert gone.email == account_deletion.pseudonym_email(user.id)
    assert (gone.name, gone.password_hash) == ("", "")
    assert gone.deleted_at is not None and gone.plan == "free"
    assert gone.stripe_customer_id  # ties the kept invoices to Stripe's records
    assert [r.ended_at is not None for r in runs] == [True]  # usage kept, run closed
    assert invoices and all(i.total_cents is not None for i in invoices)
    assert kept_project.deleted_at is not None and kept_project.name != "thesis"
    assert failed == []  # Stripe's cancellation events apply to the pseudonymous account
    assert leftovers == {"sessions": [], "tokens": [], "mail": [], "mail_to": []}
    assert client.get("/api/auth/me").status_code == 401
    login = api.post("/api/auth/login", json={"email": "leaving@example.com",
                                               "password": PASSWORD})
    assert login.status_code == 401
    # The address is free again for a new account.
    again = api.post("/api/auth/signup", json={"email": "leaving@example.com",
                                                "password": "a new life begins"})
    assert again.status_code == 200


def test_deleting_a_free_account_needs_no_stripe(bed: Bed, make_user, engine) -> None:
    user = make_user()
    _delete(engine, bed, user)
    assert bed.profile(user.id).deleted_at is not None
    with pytest.raises(NotFound):
        _delete(engine, bed, user)


def test_the_privacy_policy_says_what_deletion_does() -> None:
    from pathlib import Path

    text = " ".join((Path(__file__).parents[2] / "docs/legal/privacy.md").read_text().split())
    for promise in ("cancelled in Stripe at once", "project VMs are stopped",
                    "we delete your email address, name, password hash, sign-in sessions",
                    "your invoices, your usage and overage records", "(pseudonymised)"):
        assert promise in text, promise


def test_a_new_email_address_reaches_the_stripe_customer(bed: Bed, make_user, client_for,
                                                         engine) -> None:
    from aether_web.services import billing

    user = make_user(email="old@example.com")
    bed.checkout(client_for(user), "pro")
    profile = bed.wait_for_plan(user.id, "pro")
    assert bed.stripe.v1.customers.retrieve(profile.stripe_customer_id).email == \
        "old@example.com"
    assert billing.sync_customer_email(customer_id=profile.stripe_customer_id,
                                       email="new@example.com", gateway=bed.gateway)
    assert bed.stripe.v1.customers.retrieve(profile.stripe_customer_id).email == \
        "new@example.com"
    # A customer Stripe doesn't know is logged, and the change in the app stands.
    assert not billing.sync_customer_email(customer_id="cus_missing", email="x@example.com",
                                           gateway=bed.gateway)
