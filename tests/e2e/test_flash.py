"""The app-wide notice after an action: in a live region, readable (axe) in light and dark,
no wider than a phone, closed from the keyboard, gone by itself after its fade and not said
again on the next page or a reload; the Checkout outcome said once, its ?checkout= dropped."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import checkout_pro
from tests.e2e.test_keyboard_and_phone import AXE, LONG_NAME, _overflow

pytestmark = pytest.mark.e2e


def _axe_on_notice(page) -> list[str]:
    """axe on the notice alone (the page behind it may be mid-transition)."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "() => axe.run('#flash-status', {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})")
    return [f"{v['id']}: {v['help']}" for v in result["violations"]]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_notice_is_readable_closable_and_fades(browser, server, signup, scheme) -> None:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make test-deps` installs axe-core")
    context = browser.new_context(base_url=server.url, color_scheme=scheme,
                                  viewport={"width": 360, "height": 800})
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    signup(page)

    page.fill("#new-project-name", LONG_NAME)
    page.click("#create-project")
    notice = page.locator("#flash-status #flash")
    notice.filter(has_text=f'Project "{LONG_NAME}" created.').wait_for()
    assert page.locator("#flash-status").get_attribute("aria-live") == "polite"
    assert _axe_on_notice(page) == []
    assert _overflow(page) <= 0
    box = notice.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 360, box

    page.focus("#flash-close")
    page.keyboard.press("Enter")
    notice.wait_for(state="detached")

    page.locator(".project-card").get_by_label("Rename").click()
    page.fill("#rename-input", "renamed")
    page.keyboard.press("Enter")
    notice.filter(has_text="Project renamed.").wait_for()
    notice.wait_for(state="detached", timeout=12_000)  # faded out, then gone from the state
    page.goto("/billing")
    page.locator("#usage-section").wait_for()
    page.wait_for_load_state("networkidle")
    assert page.locator("#flash").count() == 0
    context.close()
    assert not errors, errors


def test_the_checkout_outcome_is_said_once(page, signup) -> None:
    signup(page)
    checkout_pro(page)
    page.wait_for_url(re.compile(r"/billing/?$"))  # the address lost ?checkout=
    page.reload()
    page.locator("#current-plan").filter(has_text="Pro").wait_for()
    page.wait_for_load_state("networkidle")
    assert page.locator("#billing-notice").count() == 0
