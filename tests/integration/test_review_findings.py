"""Security review findings: each test states the behaviour the product must have."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from sqlmodel import Session, select

from aether_web.db import transaction
from aether_web.errors import InvalidInput
from aether_web.models import EmailOutbox, Profile
from aether_web.services import account_settings, password_reset, verification
from tests.integration.stripe_support import WEBHOOK_SECRET, Bed, bed, billing_bed, wait_until

FIXTURES = (bed, billing_bed)
PASSWORD = "correct-horse-battery"  # make_user's password


def _last_token(engine, to: str) -> str:
    with Session(engine) as s:
        rows = s.exec(select(EmailOutbox).where(EmailOutbox.to == to)
                      .order_by(EmailOutbox.created_at)).all()
    assert rows, f"no mail to {to}"
    return rows[-1].body.split("token=")[1].split()[0]


def _attacker_requests_email_change(engine, user, to: str = "mallory@evil.example") -> str:
    """Someone who knows the password asks to move the account to their own address."""
    with transaction(engine) as s:
        verification.request_email_change(s, user_id=user.id, new_email=to, password=PASSWORD)
    return _last_token(engine, to)


def _assert_link_dead(engine, user, token: str) -> None:
    with transaction(engine) as s, pytest.raises(InvalidInput) as err:
        verification.confirm_email(s, token=token)
    assert err.value.code == "invalid_token"
    with Session(engine) as s:
        assert s.get(Profile, user.id).email != "mallory@evil.example"


def test_a_password_change_kills_a_pending_email_change_link(engine, make_user) -> None:
    """The notice mail says "if this wasn't you, change your password": doing so must stop
    the change, or the attacker confirms it later and resets the password from their inbox."""
    user = make_user(email="victim@example.com")
    token = _attacker_requests_email_change(engine, user)
    with transaction(engine) as s:
        account_settings.change_password(s, user_id=user.id, new_password="victim new secret 42",
                                         keep_token=None, current_password=PASSWORD)
    _assert_link_dead(engine, user, token)


def test_a_password_reset_kills_a_pending_email_change_link(engine, make_user) -> None:
    user = make_user(email="victim@example.com")
    token = _attacker_requests_email_change(engine, user)
    with transaction(engine) as s:
        password_reset.request_reset(s, email="victim@example.com")
    reset = _last_token(engine, "victim@example.com")
    with transaction(engine) as s:
        password_reset.reset_password(s, token=reset, password="victim new secret 42")
    _assert_link_dead(engine, user, token)


def test_switching_back_and_forth_keeps_the_app_and_stripe_on_one_plan(
        bed: Bed, make_user, client_for) -> None:
    """Pro -> Team -> Pro -> Team: the third switch reuses the first one's idempotency key, so
    Stripe replays its old answer (Team) without changing anything and the app records Team
    while Stripe keeps billing Pro."""
    user = make_user()
    client = client_for(user)
    bed.checkout(client, "pro")
    profile = bed.wait_for_plan(user.id, "pro")
    bed.settle()
    for step, plan in enumerate(("team", "pro", "team")):
        r = client.post("/api/billing/switch", json={"plan": plan})
        assert r.status_code == 200, r.text
        sub = bed.stripe.v1.subscriptions.retrieve(profile.stripe_subscription_id)
        licensed = [item.price.lookup_key for item in sub.items.data
                    if not (item.price.lookup_key or "").endswith("_overage")]
        assert licensed == [f"aether_{plan}_monthly"], (step, plan, licensed)
        assert bed.profile(user.id).plan == plan


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/signup",
                                  "/api/auth/forgot-password", "/api/billing/checkout"])
def test_an_oversized_body_is_refused_before_it_is_read(api, path) -> None:
    """Every route reads the whole body into memory first: 100 MB bodies to /api/auth/login
    are parsed (401 after seconds), so a few parallel ones exhaust a worker's memory."""
    body = b'{"email":"' + b"a" * 5_000_000 + b'"}'
    r = api.post(path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 413, (r.status_code, r.text[:200])
    assert r.json()["error"]["code"] in ("payload_too_large", "body_too_large")


@pytest.mark.parametrize("hook", ["authorize", "heartbeat"])  # heartbeat: PostgreSQL fast path
def test_a_malformed_hook_timestamp_is_a_401_not_a_500(api, hook) -> None:
    """int() refuses more than 4,300 digits, which str.isdigit() lets through: ValueError,
    a 500 and a Sentry event for every unsigned request."""
    value = "t=" + "9" * 5000 + ",v1=00"
    r = api.post(f"/api/hooks/vm/{hook}", content=b'{"project_id":"x"}',
                 headers={"Content-Type": "application/json", "Aether-Signature": value})
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.json()["error"]["code"] == "invalid_signature"


@pytest.mark.parametrize("header", ["t=\u00b2,v1=00", "t=\u00b9\u00b2\u00b3,v1=00"])
def test_superscript_digits_in_a_hook_timestamp_are_refused_not_raised(header) -> None:
    """A header sent as raw Latin-1 bytes (b"t=\\xb2,v1=00") reaches verify_signature as
    "t=\u00b2": str.isdigit() is True, int() raises ValueError (500 on the live server)."""
    from aether_web.api.hooks import verify_signature

    assert verify_signature(header, b"{}", ["secret"], tolerance=300) is False


def test_a_deeply_nested_webhook_body_is_a_400_not_a_500(api) -> None:
    payload = '{"id":"evt_deep","type":"invoice.created","data":' + "[" * 50_000 + \
              "]" * 50_000 + "}"
    t = int(time.time())
    mac = hmac.new(WEBHOOK_SECRET.encode(), f"{t}.{payload}".encode(), hashlib.sha256)
    r = api.post("/api/billing/webhook", content=payload.encode(),
                 headers={"Content-Type": "application/json",
                          "Stripe-Signature": f"t={t},v1={mac.hexdigest()}"})
    assert r.status_code == 400, (r.status_code, r.text)
    assert json.loads(r.text)["error"]["code"] in ("malformed_json", "json_too_deep")


@pytest.mark.postgres
def test_a_nul_in_the_reset_address_is_not_a_500(api) -> None:
    """Unauthenticated: on PostgreSQL the NUL reaches the query (DataError, 500 and a Sentry
    event per request); sign-up and log-in check the address first."""
    r = api.post("/api/auth/forgot-password", json={"email": "a\x00b@example.com"})
    assert r.status_code in (202, 400), (r.status_code, r.text)


@pytest.mark.parametrize("name", ["a\x00b", "ev\u202eil", "x\u200by"])
def test_settings_refuse_the_names_sign_up_refuses(engine, make_user, name) -> None:
    """Sign-up refuses control and invisible characters in a name (text_input.name_problem);
    Settings' rename stores them (bidi overrides spoof the support console; a NUL is a
    DataError on PostgreSQL instead of a form error)."""
    user = make_user()
    with pytest.raises(InvalidInput), transaction(engine) as s:
        account_settings.rename(s, user_id=user.id, name=name)


def test_a_past_due_user_cannot_upgrade_on_credit(bed: Bed, make_user, client_for) -> None:
    """In the grace period (last invoice unpaid), Pro -> Team answered 200 and gave Team's
    allowances at once, the prorated fee deferred to an invoice that the same card won't pay.
    An upgrade must wait until the account is paid up (or be charged now)."""
    user = make_user()
    client = client_for(user)
    bed.checkout(client, "pro")
    profile = bed.wait_for_plan(user.id, "pro")
    bed.settle()
    bed.set_card(profile.stripe_customer_id, "4000000000000341")  # attaches, then declines
    bed.close_period(profile.stripe_subscription_id)
    bed.settle()
    wait_until(lambda: bed.profile(user.id).subscription_status == "past_due", 30, "past_due")
    r = client.post("/api/billing/switch", json={"plan": "team"})
    assert r.status_code != 200, r.text
    assert bed.profile(user.id).plan == "pro"


def test_signing_out_the_other_sessions_kills_a_pending_email_change_link(
        engine, make_user) -> None:
    user = make_user(email="victim@example.com")
    token = _attacker_requests_email_change(engine, user)
    with transaction(engine) as s:
        account_settings.sign_out_others(s, user_id=user.id, current_token=None)
    _assert_link_dead(engine, user, token)
