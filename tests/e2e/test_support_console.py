"""The support console in a browser: refused to users, usable by admins, Replay works."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from sqlmodel import Session

from aether_web.models import StripeEvent

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "support-password-123"


def test_a_user_is_refused_the_console(page, signup):
    signup(page)
    page.goto("/admin")
    page.locator("#admin-forbidden").wait_for()
    assert page.locator("#admin-jobs").count() == 0
    assert page.locator("#admin-failed-events, #admin-failed-events-empty").count() == 0


def test_an_admin_finds_a_user_and_replays_a_failed_webhook(page, server, signup, login):
    customer = signup(page)
    page.context.clear_cookies()
    admin_email = f"support-{uuid.uuid4().hex[:8]}@example.com"
    server.cli("create-admin", admin_email, "--password", ADMIN_PASSWORD)
    event_id = f"evt_{uuid.uuid4().hex[:12]}"
    with Session(server.engine) as session:
        session.add(StripeEvent(id=event_id, type="customer.created", created=1, status="failed",
                                payload=json.dumps({"id": event_id, "type": "customer.created",
                                                    "created": 1, "data": {"object": {}}}),
                                last_error="RuntimeError: lost the database", attempts=1))
        session.commit()

    login(page, admin_email, ADMIN_PASSWORD)
    page.goto("/admin")
    page.locator("#admin-jobs").wait_for()
    assert "purge_expired_sessions" in page.locator("#admin-jobs").inner_text()

    page.fill("#admin-email", customer.split("@")[0])
    page.click("#admin-find")
    results = page.locator("#admin-results")
    results.wait_for()
    assert customer in results.inner_text() and "free" in results.inner_text()
    results.get_by_role("button", name="Open").first.click()
    page.locator("#admin-user").wait_for()
    assert page.locator("#admin-user").inner_text() == customer
    assert "Stripe customer" in page.locator("#admin-user-details").inner_text()

    row = page.locator("#admin-failed-events tr", has_text=event_id)
    assert "lost the database" in row.inner_text()
    row.get_by_role("button", name="Replay").click()
    page.locator("#flash").filter(has_text=re.compile(f"{event_id} replayed")).wait_for()
    assert page.locator("#admin-failed-events tr", has_text=event_id).count() == 0
    with Session(server.engine) as session:
        assert session.get(StripeEvent, event_id).status != "failed"
