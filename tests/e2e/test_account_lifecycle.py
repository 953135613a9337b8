"""One account's life in the browser: "Sign up for Pro" on /pricing, the confirmation link
that goes straight on to Checkout, settings (name, sessions, password, email), a throttled
log-in that leads to a password reset by email, and deleting the account."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlmodel import Session, select

from aether_web.models import Profile
from tests.e2e.conftest import PASSWORD, form_ready, mailed_link

pytestmark = pytest.mark.e2e

GOOD_CARD = "4242 4242 4242 4242"
SECOND_PASSWORD = "second password here"
THIRD_PASSWORD = "third time lucky, reset"


def _profile(server, user_id) -> Profile:
    with Session(server.engine) as s:
        return s.get(Profile, user_id)


def _log_in(page, email: str, password: str) -> None:
    """Log in from the keyboard (Enter in the password field submits the form), waiting for
    the server's answer to the POST: a lost submission fails here, saying so, rather than
    as a missing message later."""
    page.goto("/login")
    form_ready(page)
    page.fill("#email", email)
    page.fill("#password", password)
    with page.expect_response(lambda r: r.url.endswith("/api/auth/login")
                              and r.request.method == "POST") as answer:
        page.press("#password", "Enter")
    assert answer.value.status == 303, answer.value.status


def test_sign_up_for_pro_confirm_settings_reset_and_delete(page, browser, server) -> None:
    email = f"life-{uuid.uuid4().hex[:8]}@example.com"

    # /pricing -> sign-up with the plan kept -> unconfirmed: Checkout waits, with a resend.
    page.goto("/pricing")
    page.click("#pricing-signup-pro")
    page.wait_for_url(re.compile(r"/signup\?plan=pro$"))
    assert "Pro" in page.locator("#signup-plan").inner_text()
    form_ready(page, "/api/auth/signup")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#submit")
    page.wait_for_url(re.compile(r"/dashboard"))
    page.locator("#welcome-dismiss").click()
    assert email in page.locator("#verify-banner").inner_text()
    with Session(server.engine) as s:
        user_id = s.exec(select(Profile.id).where(Profile.email == email)).one()
    first_link = mailed_link(server, email, "/verify-email")
    page.goto("/billing?upgrade=1")
    page.locator("#upgrade-pro").click()
    error = page.locator("#billing-error")
    error.filter(has_text="Confirm your email address").wait_for()
    page.locator("#billing-resend-verification").click()
    page.locator("#resend-verification-message").filter(has_text="new link").wait_for()
    link = mailed_link(server, email, "/verify-email")
    assert link != first_link

    # The link confirms the address and goes straight on to Checkout for Pro.
    page.goto(link)
    page.wait_for_url(re.compile(r"/checkout/cs_test_"))
    assert "?token=" not in page.url
    page.fill("#card-number", GOOD_CARD)
    page.click("#pay")
    page.wait_for_url(re.compile(r"/billing/?\?checkout=success"))
    page.locator("#billing-notice").filter(has_text="You're on Pro now").wait_for()
    assert page.locator("#verify-banner").count() == 0
    assert _profile(server, user_id).signup_plan is None

    # Settings: name, the sessions list with another browser signed out, the password.
    other = browser.new_context(base_url=server.url)
    other_page = other.new_page()
    _log_in(other_page, email, PASSWORD)
    other_page.wait_for_url(re.compile(r"/dashboard"))
    page.goto("/settings")
    page.fill("#settings-name", "Ada Lovelace")
    page.click("#save-name")
    page.locator("#name-msg").filter(has_text="Saved").wait_for()
    assert page.locator(".session-row").count() == 2
    page.click("#sign-out-others")
    page.locator("#sessions-msg").filter(has_text="Signed out 1 other session").wait_for()
    assert page.locator(".session-row").count() == 1
    other_page.goto("/billing")
    other_page.wait_for_url(re.compile(r"/login\?next="))
    other.close()

    page.fill("#current-password", "not my password!")
    page.fill("#new-password", SECOND_PASSWORD)
    page.click("#change-password")
    page.locator("#password-msg").filter(has_text="current password is not right").wait_for()
    page.fill("#current-password", PASSWORD)
    page.fill("#new-password", SECOND_PASSWORD)
    page.click("#change-password")
    page.locator("#password-msg").filter(has_text="Your password is changed").wait_for()

    # Email change: nothing changes until the new address opens its link.
    new_email = f"moved-{uuid.uuid4().hex[:8]}@example.com"
    page.fill("#new-email", new_email)
    page.fill("#email-password", SECOND_PASSWORD)
    page.click("#change-email")
    page.locator("#email-msg").filter(has_text=new_email).wait_for()
    assert page.locator("#pending-email").inner_text().count(new_email) == 1
    assert _profile(server, user_id).email == email
    page.goto(mailed_link(server, new_email, "/verify-email"))
    page.locator("#verify-done").filter(has_text=new_email).wait_for()
    assert _profile(server, user_id).email == new_email
    page.goto("/settings")
    page.locator("#settings-email").filter(has_text=new_email).wait_for()

    # Log out; wrong passwords until throttled: the message leads to a reset by email.
    page.click("#logout")
    page.wait_for_url(re.compile(r"http://localhost:\d+/$"))
    for _ in range(10):
        _log_in(page, new_email, "wrong password, again")
        page.locator("#form-error").wait_for()
        if page.locator("#error-reset-link").count():
            break
    assert "reset your password" in page.locator("#form-error").inner_text()
    page.click("#error-reset-link")
    page.wait_for_url(re.compile(r"/forgot-password"))
    form_ready(page, "/api/auth/forgot-password")
    page.fill("#email", new_email)
    page.click("#submit")
    page.locator("#reset-sent").wait_for()
    page.goto(mailed_link(server, new_email, "/reset-password"))
    page.fill("#password", "qwerty123456")  # long enough, but one of the most common
    page.click("#submit")
    page.locator("#form-error").filter(has_text="too common").wait_for()
    page.fill("#password", THIRD_PASSWORD)
    page.click("#submit")
    page.wait_for_url(re.compile(r"/login/?\?notice=password_reset"))
    assert "every device was signed out" in page.locator("#form-notice").inner_text()
    _log_in(page, new_email, THIRD_PASSWORD)
    page.wait_for_url(re.compile(r"/dashboard"))

    # Delete the account: Pro ends in Stripe, personal data goes, the log-in stops working.
    page.goto("/settings")
    page.fill("#delete-password", "not my password!")
    page.click("#delete-account")
    page.locator("#delete-msg").filter(has_text="not right").wait_for()
    page.fill("#delete-password", THIRD_PASSWORD)
    page.click("#delete-account")
    page.wait_for_url(re.compile(r"http://localhost:\d+/\?account=deleted$"))
    gone = _profile(server, user_id)
    assert gone.deleted_at is not None and gone.subscription_status == "canceled"
    assert new_email not in gone.email and gone.name == "" and gone.password_hash == ""
    _log_in(page, new_email, THIRD_PASSWORD)
    page.locator("#form-error").filter(has_text="Wrong email or password").wait_for()
