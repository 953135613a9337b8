"""A Pro user switches to Team from /billing (the app's own switch: the Portal can't switch a
subscription with metered prices), and the Portal is left for the card and cancellation."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import checkout_pro

pytestmark = pytest.mark.e2e


def test_switch_pro_to_team_in_the_app(page, signup) -> None:
    signup(page)
    checkout_pro(page)
    page.locator("#compare-plans").click()
    switch = page.locator("#switch-team")
    assert switch.inner_text() == "Switch to Team"
    switch.click()
    page.locator("#billing-notice").filter(has_text="You're on Team now").wait_for()
    assert page.locator("#current-plan").inner_text() == "Team"
