"""Checkout and the in-app plan switch call Stripe outside any database transaction, and of
two racing Checkouts at most one stays open (`services/billing.checkout_url`,
`services/subscription_lifecycle.switch_plan`)."""

from __future__ import annotations

import threading

from sqlmodel import Session

from aether_web.db import transaction
from aether_web.models import Profile
from aether_web.services import billing, subscription_lifecycle
from aether_web.services.accounts import lock_profile
from tests.integration.stripe_support import Bed, bed, billing_bed

FIXTURES = (bed, billing_bed)  # used by name by pytest


class _Probe:
    """The real gateway, with a hook run as Stripe is asked for the Checkout session."""

    def __init__(self, real, during_create) -> None:
        self._real = real
        self._during_create = during_create

    def __getattr__(self, name):
        return getattr(self._real, name)

    def create_checkout_session(self, **kwargs):
        self._during_create()
        return self._real.create_checkout_session(**kwargs)


def _open_sessions(bed: Bed, customer_id: str) -> list[str]:
    page = bed.stripe.v1.checkout.sessions.list(
        params={"customer": customer_id, "status": "open", "limit": 100})
    return [cs.id for cs in page.data]


def _another_request_writes(user_id, wrote: threading.Event):
    """A hook for the probe: another request takes the account's row lock, and must get it
    within 5 s, while Stripe is being asked."""
    def during_stripe_call() -> None:
        def write() -> None:
            with transaction() as session:
                lock_profile(session, user_id=user_id)
            wrote.set()
        threading.Thread(target=write, daemon=True).start()
        assert wrote.wait(5), "a write to the account waited for Stripe's answer"
    return during_stripe_call


def test_checkout_holds_no_database_lock_while_stripe_answers(bed: Bed, make_user,
                                                              engine) -> None:
    user = make_user()
    wrote = threading.Event()
    another_request_writes = _another_request_writes(user.id, wrote)

    url = billing.checkout_url(user_id=user.id, plan_key="pro",
                               gateway=_Probe(bed.gateway, another_request_writes))
    assert url.startswith(bed.emu.url)
    with Session(engine) as s:
        profile = s.get(Profile, user.id)
        assert profile.stripe_customer_id  # recorded in the short write afterwards
        assert _open_sessions(bed, profile.stripe_customer_id) == [url.rstrip("/").rsplit("/", 1)[1]]


def test_of_two_racing_checkouts_at_most_one_stays_open(bed: Bed, make_user, engine) -> None:
    user = make_user()
    other_tab: list[str] = []

    def the_other_tab_checks_out_meanwhile() -> None:
        if not other_tab:
            other_tab.append("started")
            other_tab.append(billing.checkout_url(user_id=user.id, plan_key="pro",
                                                  gateway=bed.gateway))

    first = billing.checkout_url(user_id=user.id, plan_key="pro",
                                 gateway=_Probe(bed.gateway, the_other_tab_checks_out_meanwhile))
    second = other_tab[1]
    assert first != second
    with Session(engine) as s:
        customer_id = s.get(Profile, user.id).stripe_customer_id
    # Both tabs got the same customer (one idempotent creation), and only the session whose
    # expiry ran last is still payable.
    assert _open_sessions(bed, customer_id) == [first.rstrip("/").rsplit("/", 1)[1]]


class _SwitchProbe(_Probe):
    """The real gateway, with a hook run as Stripe is asked to switch the subscription."""

    def switch_subscription_price(self, **kwargs):
        self._during_create()
        return self._real.switch_subscription_price(**kwargs)


def test_a_plan_switch_holds_no_database_lock_while_stripe_answers(
        bed: Bed, make_user, client_for, engine) -> None:
    user = make_user()
    bed.checkout(client_for(user), "pro")
    bed.wait_for_plan(user.id, "pro")
    bed.settle()
    wrote = threading.Event()
    another_request_writes = _another_request_writes(user.id, wrote)

    outcome = subscription_lifecycle.switch_plan(
        user_id=user.id, plan_key="team",
        gateway=_SwitchProbe(bed.gateway, another_request_writes))
    assert wrote.is_set()
    assert outcome
    assert bed.profile(user.id).plan == "team"  # recorded in the short write afterwards
