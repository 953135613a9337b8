"""A project's page as its owner uses it: Start with progress, Open workspace, the month's
usage and runs, Stop, rename and delete."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.e2e


def test_project_page_start_open_stop_rename_delete(page, signup):
    signup(page)
    page.fill("#new-project-name", "café-app")
    page.click("#create-project")
    page.locator(".project-name", has_text="café-app").click()
    page.wait_for_url(re.compile(r"/projects/[0-9a-f-]{36}$"))
    assert page.inner_text("#project-title") == "café-app"
    assert page.inner_text("#project-vm-state") == "stopped"
    assert page.inner_text("#project-compute") == "0 min"
    page.locator("#no-runs").wait_for()
    assert page.locator("#open-workspace").count() == 0

    page.click("#project-start")
    page.locator("#project-stop").wait_for()
    assert page.inner_text("#project-vm-state") == "running"
    row = page.locator("#project-runs .run-row").first
    assert "Running" in row.inner_text()
    workspace = page.locator("#open-workspace")
    href = workspace.get_attribute("href")
    project_id = page.url.rsplit("/", 1)[-1]
    assert href == f"/api/workspaces/{project_id}"
    assert workspace.get_attribute("target") == "_blank"
    placeholder = page.request.get(href)
    assert placeholder.status == 200 and "café-app" in placeholder.text()

    page.click("#project-stop")
    page.locator("#project-start").wait_for()
    assert page.inner_text("#project-vm-state") == "stopped"
    assert "Stopped" in page.locator("#project-runs .run-row").first.inner_text()
    assert re.fullmatch(r"(< 1|\d+) min", page.inner_text("#project-compute"))

    page.click("#project-rename")
    page.fill("#project-rename-input", "renamed app")
    page.click("#project-rename-save")
    page.locator("#project-title", has_text="renamed app").wait_for()

    page.click("#project-delete")
    page.click("#project-confirm-delete")
    page.wait_for_url(re.compile(r"/dashboard$"))
    page.locator("#empty-state").wait_for()
