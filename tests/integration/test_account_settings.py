"""Account settings and sessions: OWASP passwords, the current password for changes, the
sessions list, sign-out elsewhere, idle timeout and rotation at log-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.cookies import SESSION_COOKIE
from aether_web.db import transaction
from aether_web.errors import InvalidInput, Unauthenticated
from aether_web.models import AuthSession, Profile
from aether_web.services import account_settings
from aether_web.services.accounts import create_session
from aether_web.services.passwords import password_problem

OLD = "correct-horse-battery"


@pytest.mark.parametrize("password", ["password12", "qwerty123456", "PASSWORD1234",
                                      "short pass", "new@example.com"])
def test_short_and_common_passwords_are_refused_at_sign_up(api, password) -> None:
    r = api.post("/api/auth/signup", json={"email": "new@example.com", "password": password})
    assert r.status_code == 400, password
    assert "password" in r.json()["error"]["fields"]


@pytest.mark.parametrize("password", ["aaaaaaaaaaaa", "123456789012", "qwertyuiopas",
                                      "abcdefghijkl", "1q2w3e4r5t6y", "iloveyou2024"])
def test_repeats_sequences_and_keyboard_walks_are_refused(api, password) -> None:
    """Twelve characters, none in the common list, all among an attacker's first guesses
    (NIST SP 800-63B: repetitive or sequential characters)."""
    r = api.post("/api/auth/signup", json={"email": "new@example.com", "password": password})
    assert r.status_code == 400, password
    assert "too common" in r.json()["error"]["fields"]["password"]


def test_twelve_characters_without_composition_rules_are_enough(api) -> None:
    assert password_problem("tangerine sky") is None  # no digits, no capitals: fine
    assert password_problem("Zoë in Kyōto 佐藤") is None  # any characters
    assert password_problem("december 2026") is None
    assert password_problem("x" * 11) is not None
    r = api.post("/api/auth/signup", json={"email": "new@example.com",
                                            "password": "tangerine sky"})
    assert r.status_code == 200


def _sessions(engine, user_id):
    with Session(engine) as s:
        return s.exec(select(AuthSession).where(AuthSession.user_id == user_id)).all()


def test_change_password_needs_the_current_one_and_signs_out_other_devices(
        make_user, engine) -> None:
    user = make_user()
    with transaction(engine) as s:
        mine = create_session(s, user_id=user.id)
        create_session(s, user_id=user.id)
    with transaction(engine) as s, pytest.raises(Unauthenticated) as err:
        account_settings.change_password(s, user_id=user.id, current_password="wrong one!!",
                                         new_password="another long one", keep_token=mine)
    assert err.value.code == "wrong_password"
    with transaction(engine) as s, pytest.raises(InvalidInput) as weak:
        account_settings.change_password(s, user_id=user.id, current_password=OLD,
                                         new_password="password12", keep_token=mine)
    assert weak.value.code == "weak_password"
    assert len(_sessions(engine, user.id)) == 2
    with transaction(engine) as s:
        ended = account_settings.change_password(s, user_id=user.id, current_password=OLD,
                                                 new_password="another long one",
                                                 keep_token=mine)
    assert ended == 1
    (left,) = _sessions(engine, user.id)
    from aether_web.services.accounts import token_hash

    assert left.token_hash == token_hash(mine)


def test_sessions_are_listed_and_others_signed_out(make_user, engine, client_for) -> None:
    user = make_user()
    with transaction(engine) as s:
        mine = create_session(s, user_id=user.id, ip="10.0.0.1", user_agent="Firefox/140")
        create_session(s, user_id=user.id, ip="10.0.0.2", user_agent="Chrome/139")
    other_user_client = client_for(make_user())
    with transaction(engine) as s:
        listed = account_settings.list_sessions(s, user_id=user.id, current_token=mine)
    assert [(i.ip, i.current) for i in listed] == [("10.0.0.1", True), ("10.0.0.2", False)]
    with transaction(engine) as s:
        assert account_settings.sign_out_others(s, user_id=user.id, current_token=mine) == 1
    with transaction(engine) as s:
        assert [i.current for i in account_settings.list_sessions(
            s, user_id=user.id, current_token=mine)] == [True]
    assert other_user_client.get("/api/auth/me").status_code == 200  # nobody else's


def test_rename(make_user, engine) -> None:
    user = make_user()
    with transaction(engine) as s:
        account_settings.rename(s, user_id=user.id, name="  Ada Lovelace ")
    with Session(engine) as s:
        assert s.get(Profile, user.id).name == "Ada Lovelace"
    with transaction(engine) as s, pytest.raises(InvalidInput):
        account_settings.rename(s, user_id=user.id, name="x" * 121)


def test_an_idle_session_ends_before_its_lifetime(make_user, engine, client_for) -> None:
    user = make_user()
    client = client_for(user)
    assert client.get("/api/auth/me").status_code == 200
    from aether_web.settings import get_settings

    idle = timedelta(minutes=get_settings().session_idle_minutes)
    with transaction(engine) as s:  # the last request was longer ago than the idle timeout
        s.exec(sa.update(AuthSession).values(
            last_seen_at=datetime.now(UTC) - idle - timedelta(minutes=1)))
    row = _sessions(engine, user.id)[0]
    assert row.expires_at > datetime.now(UTC) + timedelta(days=1)  # lifetime not reached
    assert client.get("/api/auth/me").status_code == 401


def test_activity_keeps_a_session_alive(make_user, engine, client_for) -> None:
    user = make_user()
    client = client_for(user)
    almost = datetime.now(UTC) - timedelta(minutes=30)
    with transaction(engine) as s:
        s.exec(sa.update(AuthSession).values(last_seen_at=almost))
    assert client.get("/api/auth/me").status_code == 200
    assert _sessions(engine, user.id)[0].last_seen_at > almost + timedelta(minutes=29)


def test_a_new_log_in_rotates_the_session(api, make_user, engine) -> None:
    make_user(email="rot@example.com")
    first = api.post("/api/auth/login", json={"email": "rot@example.com", "password": OLD})
    old_token = first.cookies.get(SESSION_COOKIE)
    second = api.post("/api/auth/login", json={"email": "rot@example.com", "password": OLD})
    new_token = second.cookies.get(SESSION_COOKIE)
    assert old_token and new_token and old_token != new_token
    api.cookies.clear()
    api.cookies.set(SESSION_COOKIE, old_token)
    assert api.get("/api/auth/me").status_code == 401  # the browser's previous session ended
    api.cookies.set(SESSION_COOKIE, new_token)
    assert api.get("/api/auth/me").status_code == 200
