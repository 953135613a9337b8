"""Account settings: name, password, and the list of signed-in sessions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from aether_web.db import db_now
from aether_web.errors import InvalidInput, NotFound, Unauthenticated
from aether_web.models import AuthSession, Profile
from aether_web.services.accounts import end_sessions, token_hash
from aether_web.services.email import queue_email
from aether_web.services.passwords import hash_password, password_matches, password_problem

MAX_NAME = 120


def _live_profile(session: Session, user_id: uuid.UUID) -> Profile:
    profile = session.get(Profile, user_id)
    if profile is None or profile.deleted_at is not None:
        raise NotFound("Account not found.", code="account_not_found")
    return profile


def _wrong_password() -> Unauthenticated:
    return Unauthenticated("Your current password is not right.", code="wrong_password",
                           fields={"current_password": "Your current password is not right."})


def verify_outside(stored_hash: str, password: str) -> str:
    """Check `password` against the hash read earlier, outside any transaction (hashing
    holds no lock). Returns that hash, to pass as `verified_hash`; raises `wrong_password`."""
    if not password_matches(stored_hash, password):
        raise _wrong_password()
    return stored_hash


def check_password(profile: Profile, password: str = "", *,
                   verified_hash: str | None = None) -> None:
    """Raise Unauthenticated (`wrong_password`) unless the current password was given.

    Callers that verified outside the transaction pass `verified_hash` (it must still be the
    stored one: a password changed meanwhile fails); otherwise `password` is verified here
    (tools and tests)."""
    if verified_hash is not None:
        if not profile.password_hash or verified_hash != profile.password_hash:
            raise _wrong_password()
        return
    if not password_matches(profile.password_hash, password):
        raise _wrong_password()


def rename(session: Session, *, user_id: uuid.UUID, name: str) -> Profile:
    """Change the display name (may be empty)."""
    name = (name or "").strip()
    if len(name) > MAX_NAME:
        raise InvalidInput(f"Use at most {MAX_NAME} characters for your name.",
                           code="invalid_name", fields={"name": "Too long."})
    profile = _live_profile(session, user_id)
    profile.name = name
    profile.updated_at = db_now(session)
    session.add(profile)
    return profile


def new_password_problem(session: Session, *, user_id: uuid.UUID, new_password: str) -> None:
    """Raise InvalidInput (`weak_password`) for a new password that can't be used."""
    profile = _live_profile(session, user_id)
    if problem := password_problem(new_password, email=profile.email):
        raise InvalidInput(problem, code="weak_password", fields={"new_password": problem})


def change_password(
    session: Session, *, user_id: uuid.UUID, new_password: str, keep_token: str | None,
    current_password: str = "", verified_hash: str | None = None,
    new_password_hash: str | None = None,
) -> int:
    """Set a new password (the current one required, see `check_password`) and sign out
    every other session (the one of `keep_token` stays). Returns how many sessions ended.
    Pages pass `new_password_hash`, computed outside the transaction."""
    profile = _live_profile(session, user_id)
    check_password(profile, current_password, verified_hash=verified_hash)
    new_password_problem(session, user_id=user_id, new_password=new_password)
    profile.password_hash = new_password_hash or hash_password(new_password)
    profile.updated_at = db_now(session)
    session.add(profile)
    ended = end_sessions(session, user_id=profile.id, keep_token=keep_token)
    queue_email(session, to=profile.email, subject="Your aether password was changed",
                body=("The password of your aether account was just changed in Settings, "
                      "and your other devices were signed out. If this wasn't you, reset "
                      "your password at once from the log-in page.\n"),
                kind="password_changed", user_id=profile.id)
    return ended


@dataclass(frozen=True)
class SessionInfo:
    """One signed-in browser, as the settings page lists it."""

    id: str  # the first characters of the stored hash: enough to tell sessions apart
    created_at: datetime | None
    last_seen_at: datetime | None
    ip: str
    user_agent: str
    current: bool


def list_sessions(session: Session, *, user_id: uuid.UUID, current_token: str | None,
                  ) -> list[SessionInfo]:
    """The user's live sessions, most recently used first; `current` marks this browser."""
    from datetime import timedelta

    from aether_web.settings import get_settings

    now = db_now(session)
    idle_since = now - timedelta(minutes=get_settings().session_idle_minutes)
    current = token_hash(current_token) if current_token else ""
    rows = [r for r in session.exec(
        select(AuthSession).where(AuthSession.user_id == user_id, AuthSession.expires_at > now)
    ).all() if (r.last_seen_at or r.created_at or now) > idle_since]
    infos = [SessionInfo(id=r.token_hash[:12], created_at=r.created_at,
                         last_seen_at=r.last_seen_at or r.created_at, ip=r.ip,
                         user_agent=r.user_agent, current=r.token_hash == current)
             for r in rows]
    return sorted(infos, key=lambda i: (not i.current, -(i.last_seen_at or now).timestamp()))


def sign_out_others(session: Session, *, user_id: uuid.UUID, current_token: str | None) -> int:
    """End every session of the user but this browser's. Returns how many ended."""
    return end_sessions(session, user_id=user_id, keep_token=current_token)
