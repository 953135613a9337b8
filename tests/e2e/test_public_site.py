"""The public site in a real browser: a visitor's way from the landing page to an account,
every public page without console errors, and no serious accessibility violations."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from aether_web.billing.plans import PLANS, PRO
from aether_web.components.plans import dollars
from aether_web.content import load_docs
from tests.e2e.conftest import form_ready

pytestmark = pytest.mark.e2e

AXE = Path(__file__).resolve().parents[2] / ".tools" / "node_modules" / "axe-core" / "axe.min.js"
DOC_PATHS = [f"/docs/{d.slug}" for d in load_docs()]
PUBLIC_PATHS = ["/", "/pricing", "/docs", *DOC_PATHS, "/legal/terms", "/legal/privacy",
                "/login", "/signup"]


def _open(page, path: str) -> None:
    page.goto(path)
    page.wait_for_load_state("networkidle")
    page.locator("h1").first.wait_for()


def test_a_visitor_goes_from_the_landing_page_through_pricing_to_sign_up(page, server):
    _open(page, "/")
    assert "cloud" in page.locator("h1").inner_text().lower()
    meta = page.locator('meta[property="og:title"]')
    assert meta.count() == 1 and meta.get_attribute("content")
    assert page.locator('meta[name="twitter:card"]').get_attribute("content") == \
        "summary_large_image"
    assert page.locator('meta[name="description"]').first.get_attribute("content")
    for plan in PLANS.values():
        assert dollars(plan.monthly_price_cents) in page.locator(f"#plan-{plan.key}").inner_text()

    page.click("#hero-pricing")
    page.wait_for_url(re.compile(r"/pricing$"))
    page.locator("#plans").wait_for()
    pro = page.locator("#plan-pro").inner_text()
    assert dollars(PRO.monthly_price_cents) in pro and f"{PRO.compute_hours} compute hours" in pro
    assert "per compute hour" in page.locator("#overage-prices").inner_text()
    example = page.locator("#worked-example").inner_text()
    assert "Invoice total" in example and "$" in example
    cancel = page.locator("details", has_text="How do I cancel?")
    answer = cancel.get_by_text("Customer Portal")
    assert not answer.is_visible()
    cancel.locator("summary").click()
    assert answer.is_visible()

    page.click("#pricing-signup-pro")
    page.wait_for_url(re.compile(r"/signup"))
    form_ready(page, "/api/auth/signup")
    page.fill("#email", "visitor-from-pricing@example.com")
    page.fill("#password", "a-good-password-42")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/dashboard"))

    # Signed in, the pricing page leads to the upgrade on the billing page instead.
    _open(page, "/pricing")
    upgrade = page.locator("#pricing-upgrade-pro")
    upgrade.wait_for()
    assert upgrade.get_attribute("href").startswith("/billing?upgrade=1")
    assert page.locator("#pricing-signup-pro").count() == 0


@pytest.mark.parametrize("path", PUBLIC_PATHS)
def test_public_page_loads_without_console_errors(page, path):
    _open(page, path)
    assert page.title()
    assert page.locator("h1").count() == 1
    # The `page` fixture fails the test on any console error (a missing favicon included).


def test_docs_list_every_page_and_an_unknown_one_is_a_friendly_not_found(page):
    _open(page, "/docs")
    listed = page.locator("#docs-list a")
    assert listed.count() == len(DOC_PATHS)
    assert [listed.nth(i).get_attribute("href") for i in range(listed.count())] == DOC_PATHS
    _open(page, "/docs/no-such-page")
    assert "couldn't find" in page.locator("#doc-not-found").inner_text()


def test_static_files_for_crawlers_and_browsers(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        icon = client.get("/favicon.ico")
        assert icon.status_code == 200 and icon.content[:4] == b"\x00\x00\x01\x00"
        robots = client.get("/robots.txt")
        assert robots.status_code == 200 and "Disallow: /api/" in robots.text
        sitemap = client.get("/sitemap.xml")
        assert sitemap.status_code == 200
        for path in ("/pricing", "/docs/getting-started", "/legal/privacy"):
            assert f"{path}</loc>" in sitemap.text
        assert client.get("/social-preview.jpg").status_code == 200


def _serious_violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "() => axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(n["target"]) for n in v["nodes"][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("width", [1280, 390])
def test_public_pages_have_no_serious_accessibility_violations(page, width):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make test-deps` installs axe-core")
    page.set_viewport_size({"width": width, "height": 900})
    problems = {}
    for path in PUBLIC_PATHS:
        _open(page, path)
        found = _serious_violations(page)
        if found:
            problems[path] = found
    assert not problems, problems
