"""Email confirmation at sign-up and before an email change applies: unconfirmed accounts use
Free with one VM at a time and cannot start a paid plan; the plan chosen on /pricing waits."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from aether_web.db import transaction
from aether_web.errors import Conflict, InvalidInput, LimitReached, Unauthenticated
from aether_web.integrations.vm_provider import SimulatedProvider, set_vm_provider
from aether_web.models import EmailOutbox, Profile
from aether_web.services import verification, vms
from aether_web.services.email import deliver_pending
from tests.integration.smtp_support import Inbox, smtp_inbox

FIXTURES = (smtp_inbox,)
PASSWORD = "long enough passphrase"


@pytest.fixture
def provider():
    set_vm_provider(SimulatedProvider())
    yield
    set_vm_provider(None)


def _signup(api, email="new@example.com", **extra):
    r = api.post("/api/auth/signup", json={"email": email, "password": PASSWORD, **extra})
    assert r.status_code == 200, r.text
    return r.json()["user"]


def _profile(engine, email) -> Profile:
    with Session(engine) as s:
        return s.exec(select(Profile).where(Profile.email == email)).one()


def _confirm(engine, token):
    with transaction(engine) as s:
        return verification.confirm_email(s, token=token)


def test_sign_up_mails_a_link_that_confirms_the_address_once(api, engine,
                                                              smtp_inbox: Inbox) -> None:
    _signup(api)
    assert api.get("/api/auth/me").json()["user"]["email_verified"] is False
    (mail,) = smtp_inbox.to("new@example.com")
    assert mail["Subject"] == "Confirm your email address for aether"
    token = smtp_inbox.link("new@example.com", "/verify-email")
    assert _confirm(engine, token).email_verified_at is not None
    assert api.get("/api/auth/me").json()["user"]["email_verified"] is True
    with pytest.raises(InvalidInput) as err:
        _confirm(engine, token)
    assert err.value.code == "invalid_token"


def test_unconfirmed_checkout_is_refused_with_a_clear_message(api, engine) -> None:
    _signup(api)
    r = api.post("/api/billing/checkout", json={"plan": "pro"})
    assert r.status_code == 403
    error = r.json()["error"]
    assert error["code"] == "email_unverified" and "Confirm your email" in error["message"]


def test_unconfirmed_accounts_run_one_vm_at_a_time(api, engine, make_user, make_project,
                                                   provider) -> None:
    user = make_user(email_verified_at=None)
    first, second = make_project(user), make_project(user)
    with transaction(engine) as s:
        vms.start_project(s, user_id=user.id, project_id=first.id)
    with transaction(engine) as s, pytest.raises(LimitReached) as err:
        vms.start_project(s, user_id=user.id, project_id=second.id)
    assert err.value.code == "verify_email"
    with transaction(engine) as s:  # starting the running one again is fine
        vms.start_project(s, user_id=user.id, project_id=first.id)
        vms.stop_project(s, user_id=user.id, project_id=first.id)
    with transaction(engine) as s:  # one at a time, not one ever
        vms.start_project(s, user_id=user.id, project_id=second.id)
    with transaction(engine) as s:
        s.get(Profile, user.id).email_verified_at = s.get(Profile, user.id).created_at
    with transaction(engine) as s:
        vms.start_project(s, user_id=user.id, project_id=first.id)
    with Session(engine) as s:
        states = {p.vm_state for p in (s.get(type(first), first.id), s.get(type(first),
                                                                           second.id))}
    assert states == {"running"}


def test_resend_sends_a_new_link_and_stops_after_a_few(api, engine, smtp_inbox: Inbox) -> None:
    _signup(api)
    first = smtp_inbox.link("new@example.com", "/verify-email")
    r = api.post("/api/auth/resend-verification")
    assert r.status_code == 200 and r.json()["sent"] is True
    second = smtp_inbox.link("new@example.com", "/verify-email")
    assert first != second
    with pytest.raises(InvalidInput):
        _confirm(engine, first)  # replaced by the newer link
    for _ in range(verification.MAX_SENDS_PER_HOUR - 2):
        assert api.post("/api/auth/resend-verification").status_code == 200
    r = api.post("/api/auth/resend-verification")
    assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_emails"
    _confirm(engine, smtp_inbox.link("new@example.com", "/verify-email"))
    assert api.post("/api/auth/resend-verification").json()["sent"] is False


def test_an_email_change_applies_only_once_the_new_address_confirms(
        api, engine, make_user, smtp_inbox: Inbox) -> None:
    user = make_user(email="old@example.com")
    with transaction(engine) as s, pytest.raises(Unauthenticated) as err:
        verification.request_email_change(s, user_id=user.id, new_email="new@example.com",
                                          password="not my password")
    assert err.value.code == "wrong_password"
    with transaction(engine) as s:
        verification.request_email_change(s, user_id=user.id, new_email=" New@Example.com",
                                          password="correct-horse-battery")
    deliver_pending(engine=engine)
    assert _profile(engine, "old@example.com").id == user.id  # not changed yet
    notice = smtp_inbox.to("old@example.com")[-1]
    assert "new@example.com" in Inbox.body(notice)
    token = smtp_inbox.link("new@example.com", "/verify-email")
    changed = _confirm(engine, token)
    assert changed.id == user.id and changed.email == "new@example.com"
    login = api.post("/api/auth/login", json={"email": "new@example.com",
                                               "password": "correct-horse-battery"})
    assert login.status_code == 200
    old = api.post("/api/auth/login", json={"email": "old@example.com",
                                             "password": "correct-horse-battery"})
    assert old.status_code == 401


def test_an_address_taken_meanwhile_is_not_stolen(engine, make_user, smtp_inbox: Inbox) -> None:
    user = make_user(email="mine@example.com")
    with transaction(engine) as s:
        verification.request_email_change(s, user_id=user.id, new_email="free@example.com",
                                          password="correct-horse-battery")
    with Session(engine) as s:
        body = s.exec(select(EmailOutbox).where(EmailOutbox.to == "free@example.com")).one().body
    token = body.split("token=")[1].split()[0]
    make_user(email="free@example.com")
    with pytest.raises(Conflict):
        _confirm(engine, token)
    assert _profile(engine, "mine@example.com").id == user.id
    with transaction(engine) as s, pytest.raises(Conflict):
        verification.request_email_change(s, user_id=user.id, new_email="free@example.com",
                                          password="correct-horse-battery")


def test_the_plan_chosen_before_sign_up_waits_for_checkout(api, engine) -> None:
    _signup(api, email="pro@example.com", plan="pro")
    _signup(api, email="odd@example.com", plan="enterprise")
    assert _profile(engine, "pro@example.com").signup_plan == "pro"
    assert _profile(engine, "odd@example.com").signup_plan is None
    form = api.post("/api/auth/signup", data={"email": "x", "password": "p", "plan": "team"},
                    follow_redirects=False)
    assert "plan=team" in form.headers["location"]  # the key survives a form error
