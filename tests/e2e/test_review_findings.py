"""Security review findings that only the running app (its Reflex events) shows."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import socketio

from tests.e2e.conftest import PASSWORD

SETTINGS = ("reflex___state____state.aether_web___state___auth____auth_state"
            ".aether_web___pages___settings___state____settings_state")
WRONG = "Your current password is not right."


def _answers(got: list, count: int, timeout: float = 120) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        msgs = [d["delta"][SETTINGS]["email_msg_rx_state_"] for d in list(got)
                if "email_msg_rx_state_" in d.get("delta", {}).get(SETTINGS, {})]
        if len(msgs) >= count or time.monotonic() > deadline:
            return msgs
        time.sleep(0.2)


def test_settings_password_checks_are_throttled_like_log_in(server) -> None:
    """Log-in answers 429 after 5 wrong passwords from one address; the current password that
    Settings asks for (email change, password change, deletion) is checked at every event,
    unthrottled, so a stolen session cookie is enough to recover the password."""
    email = f"e2e-{uuid.uuid4().hex[:10]}@example.com"
    with httpx.Client(base_url=server.url, headers={"Origin": server.url}) as api:
        r = api.post("/api/auth/signup", json={"email": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        cookie = api.cookies.get("aether_session")
    token, got = str(uuid.uuid4()), []
    sio = socketio.Client()
    sio.on("event", got.append, namespace="/_event")
    sio.connect(f"{server.url}/_event?token={token}", socketio_path="/_event",
                namespaces=["/_event"], transports=["websocket"],
                headers={"Cookie": f"aether_session={cookie}"})
    try:
        for i in range(10):
            sio.emit("event", {
                "name": f"{SETTINGS}.change_email", "handler": None, "token": token,
                "payload": {"form_data": {"new_email": f"moved-{i}@example.com",
                                          "password": f"wrong guess number {i:02d}"}},
                "router_data": {"pathname": "/settings", "asPath": "/settings", "query": {}},
            }, namespace="/_event")
        answers = _answers(got, 10)
    finally:
        sio.disconnect()
    assert len(answers) == 10, answers
    assert answers[:5] == [WRONG] * 5
    assert WRONG not in answers[6:], answers  # refused without checking, as log-in does


def test_a_link_to_billing_with_a_plan_waits_for_a_click(page, signup) -> None:
    """/billing?start=team started Checkout on load, so a link from any site sent a signed-in
    user into Checkout for a plan they never chose: now the page asks first."""
    signup(page)
    page.goto("/billing?start=team")
    button = page.locator("#start-checkout")
    button.filter(has_text="Team").wait_for()
    page.locator("#current-plan").filter(has_text="Free").wait_for()
    assert "/checkout/" not in page.url
    button.click()
    page.wait_for_url(re.compile(r"/checkout/cs_test_"))
