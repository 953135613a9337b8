"""A Pro user switches to Team from /billing (the app's own switch: the Portal can't switch a
subscription with metered prices), and the Portal is left for the card and cancellation."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.e2e

GOOD_CARD = "4242 4242 4242 4242"


def test_switch_pro_to_team_in_the_app(page, signup) -> None:
    signup(page)
    page.goto("/billing?upgrade=1")
    page.locator("#upgrade-pro").click()
    page.wait_for_url(re.compile(r"/checkout/cs_test_"))
    page.fill("#card-number", GOOD_CARD)
    page.click("#pay")
    page.locator("#billing-notice").filter(has_text="You're on Pro now").wait_for()
    page.locator("#compare-plans").click()
    switch = page.locator("#switch-team")
    assert switch.inner_text() == "Switch to Team"
    switch.click()
    page.locator("#billing-notice").filter(has_text="You're on Team now").wait_for()
    assert page.locator("#current-plan").inner_text() == "Team"
