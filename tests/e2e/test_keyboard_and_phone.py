"""Every page with the keyboard only, at desktop and phone width, light and dark: dialogs close
on Escape, keep the focus inside and give it back; a skip link; no axe violation (dialogs
open too); nothing wider than the screen at 360 px. The support console too, as an admin.

Set AETHER_E2E_SCREENSHOTS=<dir> to keep a full-page PNG of every page visited.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from aether_web.billing.periods import month_of
from aether_web.content import load_docs
from aether_web.models import Profile, Project, Run, UsageMonthly

pytestmark = pytest.mark.e2e

AXE = Path(__file__).resolve().parents[2] / ".tools" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = os.environ.get("AETHER_E2E_SCREENSHOTS", "")
LONG_NAME = "a-very-long-project-name-that-is-exactly-sixty-four-characters-x"
PUBLIC_PATHS = ["/", "/pricing", "/docs", *[f"/docs/{d.slug}" for d in load_docs()],
                "/legal/terms", "/legal/privacy", "/login", "/signup", "/forgot-password",
                "/no-such-page"]
MODES = [(1366, "light"), (1366, "dark"), (360, "light"), (360, "dark")]


def _axe(page) -> list[str]:
    if not page.evaluate("() => !!window.axe"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "() => axe.run(document, {runOnly: {type: 'tag', values: "
        "['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})")
    return [f"{v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(str(n["target"]) for n in v["nodes"][:3])
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def _overflow(page) -> int:
    """How many pixels the page is wider than the window (0 when nothing overflows)."""
    return page.evaluate("() => document.scrollingElement.scrollWidth - window.innerWidth")


class Walk:
    """Collects what is wrong on each page instead of stopping at the first one."""

    def __init__(self, page, width: int, scheme: str) -> None:
        self.page, self.width, self.scheme = page, width, scheme
        self.problems: dict[str, list[str]] = {}

    def check(self, name: str, *, overflow: bool = True) -> None:
        # Colours measured mid-fade (a dialog's overlay, a toast) are not the page's colours:
        # let running animations end first.
        self.page.wait_for_function(
            "() => document.getAnimations().every(a => a.playState !== 'running'"
            " || a.effect?.getTiming().iterations === Infinity)")
        found = _axe(self.page)
        if overflow and self.width <= 400 and (extra := _overflow(self.page)) > 0:
            found.append(f"{extra}px wider than the {self.width}px window")
        header = self.page.evaluate(
            "() => { const h = document.querySelector('header'); "
            "return h ? h.getBoundingClientRect().height : 0; }")
        if overflow and header > 72:  # one row of controls
            found.append(f"the header takes {header:.0f}px: more than one row")
        if found:
            self.problems[name] = found
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "home"
            self.page.screenshot(path=f"{SHOTS}/{self.width}-{self.scheme}-{slug}.png",
                                 full_page=True)


def _focus_in_dialog(page) -> bool:
    return page.evaluate(
        "() => !!(document.activeElement && document.activeElement.closest("
        "'[role=dialog],[role=alertdialog]'))")


def _active_label(page) -> str:
    return page.evaluate(
        "() => document.activeElement ? (document.activeElement.getAttribute('aria-label')"
        " || document.activeElement.id || document.activeElement.textContent) : ''")


def _keyboard_dialog(page, walk: Walk, name: str, trigger, dialog_selector: str) -> None:
    """Open a dialog from `trigger` with the keyboard, check it, close it with Escape."""
    trigger.focus()
    label = _active_label(page)
    page.keyboard.press("Enter")
    dialog = page.locator(dialog_selector)
    dialog.wait_for()
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.closest("
        "'[role=dialog],[role=alertdialog]')")
    for _ in range(6):  # Tab cycles inside the dialog
        page.keyboard.press("Tab")
        assert _focus_in_dialog(page), f"{name}: Tab left the dialog"
    walk.check(f"{name} dialog", overflow=False)
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    page.wait_for_function("(label) => { const a = document.activeElement; return a && "
                           "((a.getAttribute('aria-label') || a.id || a.textContent) === label); }",
                           arg=label)


def _seed(server, email: str) -> Profile:
    with Session(server.engine, expire_on_commit=False) as s:
        user = s.exec(select(Profile).where(Profile.email == email)).one()
        now = datetime.now(UTC).replace(microsecond=0)
        projects = [Project(user_id=user.id, name=n) for n in (LONG_NAME, "café", "api")]
        s.add_all(projects)
        s.flush()
        start = now - timedelta(minutes=3)
        s.add(Run(project_id=projects[0].id, user_id=user.id, started_at=start,
                          ended_at=now, last_heartbeat_at=now, duration_seconds=180))
        s.add(UsageMonthly(user_id=user.id, month=month_of(now), compute_seconds=180))
        s.commit()
        return user


@pytest.mark.parametrize(("width", "scheme"), MODES, ids=[f"{w}-{s}" for w, s in MODES])
def test_every_page_by_keyboard_without_axe_violations_or_overflow(browser, server, signup,
                                                                  width, scheme):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: `make test-deps` installs axe-core")
    context = browser.new_context(base_url=server.url, color_scheme=scheme,
                                  viewport={"width": width, "height": 800})
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    walk = Walk(page, width, scheme)

    for path in PUBLIC_PATHS:
        seen = len(errors)
        response = page.goto(path)
        page.locator("h1").first.wait_for()
        page.wait_for_load_state("networkidle")
        if path == "/no-such-page":
            assert response.status == 404
            assert page.locator("#not-found").is_visible()
            # The browser logs the 404 answer itself; that one is expected here.
            errors[seen:] = [e for e in errors[seen:] if "404 (Not Found)" not in e]
        walk.check(path)
    page.goto("/pricing")
    page.locator("h1").first.wait_for()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "skip-link"
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'main-content'")

    email = signup(page, keep_welcome=True)
    page.locator("#welcome-dialog").wait_for()
    walk.check("welcome dialog", overflow=False)
    page.keyboard.press("Escape")
    page.locator("#welcome-dialog").wait_for(state="detached")
    page.reload()
    page.locator("#empty-state").wait_for()
    assert page.locator("#welcome-dialog").count() == 0  # dismissed once, gone for good

    _seed(server, email)
    page.reload()
    card = page.locator(".project-card").filter(has_text=LONG_NAME)
    card.wait_for()
    walk.check("/dashboard")
    # A 64-character name leaves the card's buttons on screen.
    for button in (card.locator(".vm-start"), card.get_by_label("Rename"),
                   card.get_by_label("Delete")):
        box = button.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, box

    _keyboard_dialog(page, walk, "rename", card.get_by_label("Rename"), "#rename-input")
    _keyboard_dialog(page, walk, "delete", card.get_by_label("Delete"), "#confirm-delete")
    page.fill("#new-project-name", "fourth")
    _keyboard_dialog(page, walk, "limit", page.locator("#create-project"), "#limit-message")
    assert page.locator(".project-card").count() == 3

    href = card.locator(".project-name").get_attribute("href")
    for path, ready in (("/billing", "#usage-section"), (href, "#project-title"),
                        ("/settings", "#settings-email")):
        page.goto(path)
        page.locator(ready).wait_for()
        page.wait_for_load_state("networkidle")
        walk.check(path)
        if path == "/billing":
            _keyboard_dialog(page, walk, "plans", page.locator("#open-plan-chooser"),
                             "#plan-chooser")

    # The support console, for the same account made an admin: its tables and a user's view.
    with Session(server.engine) as s:
        s.exec(select(Profile).where(Profile.email == email)).one().is_admin = True
        s.commit()
    page.goto("/admin")
    page.locator("#admin-jobs").wait_for()
    page.wait_for_load_state("networkidle")
    walk.check("/admin")
    page.fill("#admin-email", email.split("@")[0])
    page.keyboard.press("Enter")
    page.locator("#admin-results").get_by_role("button", name="Open").first.click()
    page.locator("#admin-user").wait_for()
    page.wait_for_load_state("networkidle")
    walk.check("/admin user")

    context.close()
    assert not walk.problems, walk.problems
    assert not errors, errors
