"""Password reset by email, over a real SMTP server: one link, hashed, used once, within the
hour; the same answer for every address; every session ends."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.cookies import SESSION_COOKIE
from aether_web.db import transaction
from aether_web.errors import InvalidInput
from aether_web.models import AccountToken, AuthSession, EmailOutbox
from aether_web.services import account_tokens, password_reset
from aether_web.settings import get_settings
from tests.integration.smtp_support import Inbox, smtp_inbox

FIXTURES = (smtp_inbox,)
NEW_PASSWORD = "a brand new passphrase"


def _login(api, email, password):
    return api.post("/api/auth/login", json={"email": email, "password": password})


def test_reset_by_email_ends_every_session_and_works_once(
        api, make_user, client_for, engine, smtp_inbox: Inbox) -> None:
    user = make_user(email="ada@example.com")
    phone, laptop = client_for(user), client_for(user)
    assert phone.get("/api/auth/me").status_code == 200

    r = api.post("/api/auth/forgot-password", json={"email": "Ada@Example.com"})
    assert r.status_code == 202 and r.json()["message"] == password_reset.SENT_MESSAGE
    (mail,) = smtp_inbox.to("ada@example.com")
    assert mail["Subject"] == "Reset your aether password"
    token = smtp_inbox.link("ada@example.com", "/reset-password")
    with Session(engine) as s:
        (row,) = s.exec(select(AccountToken)).all()
        outbox = s.exec(select(EmailOutbox).where(EmailOutbox.kind == "password_reset")).one()
    # Only the SHA-256 is stored; the link expires within the hour.
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in row.token_hash and row.purpose == "password_reset"
    assert timedelta(minutes=59) < row.expires_at - row.created_at <= timedelta(minutes=61)
    assert outbox.status == "sent"

    r = api.post("/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD})
    assert r.status_code == 200, r.text
    assert phone.get("/api/auth/me").status_code == 401
    assert laptop.get("/api/auth/me").status_code == 401
    with Session(engine) as s:
        assert s.exec(select(AuthSession).where(AuthSession.user_id == user.id)).all() == []
    assert _login(api, "ada@example.com", "correct-horse-battery").status_code == 401
    assert _login(api, "ada@example.com", NEW_PASSWORD).status_code == 200
    assert smtp_inbox.to("ada@example.com")[-1]["Subject"] == "Your aether password was changed"

    again = api.post("/api/auth/reset-password", json={"token": token, "password": "x" * 20})
    assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_token"
    assert _login(api, "ada@example.com", NEW_PASSWORD).status_code == 200


def test_the_answer_is_the_same_for_an_unknown_address(api, make_user, engine,
                                                       smtp_inbox: Inbox) -> None:
    make_user(email="known@example.com")
    known = api.post("/api/auth/forgot-password", json={"email": "known@example.com"})
    unknown = api.post("/api/auth/forgot-password", json={"email": "nobody@example.com"})
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    form_known = api.post("/api/auth/forgot-password", data={"email": "known@example.com"},
                          follow_redirects=False)
    form_unknown = api.post("/api/auth/forgot-password", data={"email": "nobody@example.com"},
                            follow_redirects=False)
    assert form_known.status_code == form_unknown.status_code == 303
    assert form_known.headers["location"] == form_unknown.headers["location"] \
        == "/forgot-password?sent=1"
    assert smtp_inbox.to("nobody@example.com") == []
    assert len(smtp_inbox.to("known@example.com")) == 2
    with Session(engine) as s:
        assert s.exec(select(EmailOutbox).where(EmailOutbox.to == "nobody@example.com")
                      ).all() == []


def test_an_expired_or_superseded_link_is_refused(api, make_user, engine,
                                                  smtp_inbox: Inbox) -> None:
    make_user(email="bob@example.com")
    api.post("/api/auth/forgot-password", json={"email": "bob@example.com"})
    first = smtp_inbox.link("bob@example.com", "/reset-password")
    api.post("/api/auth/forgot-password", json={"email": "bob@example.com"})
    second = smtp_inbox.link("bob@example.com", "/reset-password")
    assert first != second
    r = api.post("/api/auth/reset-password", json={"token": first, "password": NEW_PASSWORD})
    assert r.json()["error"]["code"] == "invalid_token"  # a newer link replaced it
    with transaction(engine) as s:  # an hour has passed
        s.exec(sa.update(AccountToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=2)))
    r = api.post("/api/auth/reset-password", json={"token": second, "password": NEW_PASSWORD})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_token"
    with transaction(engine) as s:
        assert not password_reset.reset_link_is_live(s, token=second)
    assert _login(api, "bob@example.com", "correct-horse-battery").status_code == 200


def test_a_weak_password_is_refused_and_keeps_the_link(api, make_user,
                                                       smtp_inbox: Inbox) -> None:
    make_user(email="cy@example.com")
    api.post("/api/auth/forgot-password", json={"email": "cy@example.com"})
    token = smtp_inbox.link("cy@example.com", "/reset-password")
    for weak in ("password12", "qwerty123456", "short"):
        r = api.post("/api/auth/reset-password", json={"token": token, "password": weak})
        assert r.status_code == 400 and r.json()["error"]["code"] == "weak_password", weak
    form = api.post("/api/auth/reset-password", data={"token": token, "password": "qwerty123456"},
                    follow_redirects=False)
    assert form.status_code == 303
    assert form.headers["location"].startswith("/reset-password?token=")
    assert "error=common_password" in form.headers["location"]
    ok = api.post("/api/auth/reset-password", data={"token": token, "password": NEW_PASSWORD},
                  follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/login?notice=password_reset"
    assert _login(api, "cy@example.com", NEW_PASSWORD).status_code == 200


def test_reset_mail_to_one_account_is_capped(api, make_user, smtp_inbox: Inbox,
                                            monkeypatch) -> None:
    # Whatever the client's address (each request could come from another one), one
    # account receives at most MAX_SENDS_PER_HOUR reset emails an hour.
    monkeypatch.setenv("AETHER_RESET_IP_LIMITS", "1000/minute")
    get_settings.cache_clear()
    make_user(email="dee@example.com")
    for _ in range(password_reset.MAX_SENDS_PER_HOUR + 3):
        r = api.post("/api/auth/forgot-password", json={"email": "dee@example.com"})
        assert r.status_code == 202
    assert len(smtp_inbox.to("dee@example.com")) == password_reset.MAX_SENDS_PER_HOUR


@pytest.mark.postgres
def test_a_link_is_used_once_even_by_two_requests(make_user, engine) -> None:
    user = make_user(email="eve@example.com")
    with transaction(engine) as s:
        token = account_tokens.issue_token(s, user_id=user.id, purpose="password_reset",
                                           email=user.email, ttl=timedelta(hours=1))
    # Two requests both find the link live; the second to write finds it used.
    with Session(engine) as first, Session(engine) as second:
        assert account_tokens.peek_token(first, token=token, purpose="password_reset")
        assert account_tokens.peek_token(second, token=token, purpose="password_reset")
        account_tokens.use_token(second, token=token, purpose="password_reset")
        second.commit()
        with pytest.raises(InvalidInput) as err:
            account_tokens.use_token(first, token=token, purpose="password_reset")
        first.rollback()
    assert err.value.code == "invalid_token"


def test_reset_signs_out_the_browser_that_used_it(api, make_user, smtp_inbox: Inbox) -> None:
    make_user(email="fay@example.com")
    assert _login(api, "fay@example.com", "correct-horse-battery").status_code == 200
    api.post("/api/auth/forgot-password", json={"email": "fay@example.com"})
    token = smtp_inbox.link("fay@example.com", "/reset-password")
    r = api.post("/api/auth/reset-password", json={"token": token, "password": NEW_PASSWORD})
    assert r.status_code == 200
    assert f'{SESSION_COOKIE}=""' in r.headers["set-cookie"]
    assert api.get("/api/auth/me").status_code == 401


def test_reset_requests_are_throttled_per_client_address(api, make_user,
                                                         smtp_inbox: Inbox) -> None:
    make_user(email="gus@example.com")
    answers = [api.post("/api/auth/forgot-password", json={"email": f"x{i}@example.com"})
               for i in range(5)]
    assert {r.status_code for r in answers} == {202}
    r = api.post("/api/auth/forgot-password", json={"email": "gus@example.com"})
    assert r.status_code == 429 and r.headers["retry-after"]
    assert smtp_inbox.to("gus@example.com") == []


def test_a_throttled_log_in_points_to_the_reset(api, make_user) -> None:
    make_user(email="hal@example.com")
    for _ in range(10):
        r = api.post("/api/auth/login", json={"email": "hal@example.com", "password": "nope"})
        if r.status_code == 429:
            break
    assert r.status_code == 429
    assert r.json()["error"]["message"].endswith("reset your password: /forgot-password")
    form = api.post("/api/auth/login", data={"email": "hal@example.com", "password": "nope"},
                    follow_redirects=False)
    assert "error=too_many_attempts" in form.headers["location"]
    from aether_web.pages.auth import ERROR_MESSAGES

    assert "reset your password" in ERROR_MESSAGES["too_many_attempts"]
