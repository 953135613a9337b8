"""A user upgrades through the emulator's Checkout, fails with a declined card, and cancels."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.e2e

GOOD_CARD = "4242 4242 4242 4242"
DECLINED = "4000 0000 0000 0002"


def _choose(page, plan: str) -> None:
    page.goto("/billing?upgrade=1")
    page.locator(f"#upgrade-{plan}").click()
    page.wait_for_url(re.compile(r"/checkout/cs_test_"))


def test_upgrade_to_pro_through_checkout(page, signup) -> None:
    signup(page)
    _choose(page, "pro")
    page.fill("#card-number", GOOD_CARD)
    page.click("#pay")
    page.wait_for_url(re.compile(r"/billing/?\?checkout=success"))
    notice = page.locator("#billing-notice")
    notice.filter(has_text="You're on Pro now").wait_for()
    assert page.locator("#current-plan").inner_text() == "Pro"
    assert page.locator("#plan-badge").inner_text() == "PRO"
    page.locator("#invoices").wait_for()


def test_declined_card_leaves_the_user_on_free(page, signup) -> None:
    signup(page)
    _choose(page, "pro")
    page.fill("#card-number", DECLINED)
    page.click("#pay")
    assert "Your card was declined." in page.locator("#card-error").inner_text()
    page.click("#cancel")
    page.wait_for_url(re.compile(r"/billing/?\?checkout=canceled"))
    page.locator("#billing-notice").filter(
        has_text="Checkout was canceled; you're still on Free").wait_for()
    assert page.locator("#current-plan").inner_text() == "Free"


def test_manage_subscription_cancel_ends_on_free(page, signup) -> None:
    signup(page)
    _choose(page, "team")
    page.fill("#card-number", GOOD_CARD)
    page.click("#pay")
    page.locator("#billing-notice").filter(has_text="You're on Team now").wait_for()
    page.locator("#manage-subscription").click()
    page.wait_for_url(re.compile(r"/portal/bps_"))
    page.click("#cancel-now")
    page.locator("#portal-message").wait_for()
    page.click("#return")
    page.wait_for_url(re.compile(r"/billing/?$"))
    for _ in range(20):  # the webhook lands within moments
        if page.locator("#current-plan").inner_text() == "Free":
            break
        page.wait_for_timeout(500)
        page.reload()
    assert page.locator("#current-plan").inner_text() == "Free"
    assert page.locator("#open-plan-chooser").is_visible()
