"""The foundation's browser journey: sign up, projects up to the cap, log out and in, isolation."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import form_ready

pytestmark = pytest.mark.e2e


def _create(page, name: str) -> None:
    page.fill("#new-project-name", name)
    page.click("#create-project")


def test_signup_projects_cap_logout_login_and_isolation(page, browser, server, signup, login):
    email = signup(page)
    page.wait_for_selector("#empty-state")
    assert "Create your first project" in page.inner_text("#empty-state")
    assert page.inner_text("#user-email") == email

    for name in ("alpha", "beta", "gamma"):
        _create(page, name)
        page.locator(".project-name", has_text=name).wait_for()
    assert page.locator(".project-card").count() == 3

    _create(page, "delta")
    message = page.locator("#limit-message")
    message.wait_for()
    assert "Free plan includes 3 projects" in message.inner_text()
    assert page.locator("#limit-upgrade").is_visible()
    assert page.locator(".project-card").count() == 3

    project_href = page.locator(".project-name", has_text="alpha").get_attribute("href")
    assert re.fullmatch(r"/projects/[0-9a-f-]{36}", project_href)

    page.keyboard.press("Escape")  # closes the limit dialog (its "Not now" does too)
    message.wait_for(state="detached")
    page.click("#logout")
    page.wait_for_url(re.compile(r"http://localhost:\d+/$"))
    page.goto("/dashboard")
    page.wait_for_url(re.compile(r"/login"))

    login(page, email)
    page.locator(".project-card").first.wait_for()
    names = sorted(page.locator(".project-name").all_inner_texts())
    assert names == ["alpha", "beta", "gamma"]

    other = browser.new_context(base_url=server.url)
    try:
        other_page = other.new_page()
        signup(other_page)
        other_page.wait_for_selector("#empty-state")
        assert other_page.locator(".project-card").count() == 0
        other_page.goto(project_href)
        other_page.wait_for_selector("#project-missing")
        assert "alpha" not in other_page.inner_text("body")
    finally:
        other.close()

    page.goto(project_href)
    page.wait_for_selector("#project-title")
    assert page.inner_text("#project-title") == "alpha"


def test_wrong_password_shows_a_clear_error(page, signup):
    email = signup(page)
    page.click("#logout")
    page.wait_for_url(re.compile(r"http://localhost:\d+/$"))
    page.goto("/login")
    form_ready(page)
    page.fill("#email", email)
    page.fill("#password", "not-the-password")
    page.click("#submit")
    page.wait_for_selector("#form-error")
    assert "Wrong email or password" in page.inner_text("#form-error")
    assert page.input_value("#email") == email
    assert email.split("@")[0] not in page.url  # kept in a cookie, never in the address
