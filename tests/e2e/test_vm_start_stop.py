"""Start and stop a project's VM from the dashboard (simulated provider); the free cap."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from aether_web.models import PlanIntervalRow, Profile, Project, Run
from tests.usage_support import add_month_runs

pytestmark = pytest.mark.e2e


def _runs(server, email):
    with Session(server.engine) as s:
        user = s.exec(select(Profile).where(Profile.email == email)).one()
        return s.exec(select(Run).where(Run.user_id == user.id)).all()


def _card(page, name):
    return page.locator(".project-card", has=page.locator(".project-name", has_text=name))


def test_start_and_stop_from_the_dashboard(page, server, signup):
    email = signup(page)
    page.fill("#new-project-name", "vm-one")
    page.click("#create-project")
    card = _card(page, "vm-one")
    card.wait_for()
    assert card.locator(".vm-state").inner_text() == "stopped"

    card.locator(".vm-start").click()
    card.locator(".vm-stop").wait_for()
    assert card.locator(".vm-state").inner_text() == "running"
    [run] = _runs(server, email)
    assert run.ended_at is None and run.machine_id.startswith("sim-")

    card.locator(".vm-stop").click()
    card.locator(".vm-start").wait_for()
    assert card.locator(".vm-state").inner_text() == "stopped"
    [run] = _runs(server, email)
    assert run.ended_at is not None and run.end_reason == "user_stopped"
    with Session(server.engine) as s:
        assert s.get(Project, run.project_id).vm_state == "stopped"


def test_a_free_user_at_the_cap_sees_the_limit_dialog(page, server, signup):
    email = signup(page)
    page.fill("#new-project-name", "capped")
    page.click("#create-project")
    card = _card(page, "capped")
    card.wait_for()
    # Fifty hours of this month's runs on Free (the cap counts runs held on Free, so the
    # account's Free interval is moved back to the month's start first).
    with Session(server.engine) as s:
        user = s.exec(select(Profile).where(Profile.email == email)).one()
        project = s.exec(select(Project).where(Project.user_id == user.id)).one()
        month = add_month_runs(s, user_id=user.id, project_id=project.id, seconds=50 * 3600)
        [interval] = s.exec(select(PlanIntervalRow)
                            .where(PlanIntervalRow.user_id == user.id)).all()
        interval.started_at = month
        s.add(interval)
        s.commit()

    card.locator(".vm-start").click()
    message = page.locator("#limit-message")
    message.wait_for()
    assert "compute hours" in message.inner_text()
    assert page.locator("#limit-upgrade").is_visible()
    assert all(r.machine_id == "old" for r in _runs(server, email))  # nothing opened
    assert card.locator(".vm-state").inner_text() == "stopped"
