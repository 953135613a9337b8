"""Sign-up, log-in and server-side sessions (absolute lifetime and idle timeout).

Password hashing lives in `services/passwords.py` and runs outside any transaction: routes hash
(or verify) first, then open the transaction that stores the result. Throttling of log-in and
sign-up is `services/throttle.py`, also called outside the transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.billing.plans import PAID_PLAN_KEYS
from aether_web.db import db_now
from aether_web.errors import Conflict, InvalidInput
from aether_web.models import AuthSession, Profile
from aether_web.services import text_input
from aether_web.services.passwords import (
    MAX_PASSWORD,
    MIN_PASSWORD,
    hash_password,
    password_problem,
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# A session's last_seen_at is written at most this often (not at every event).
_TOUCH_EVERY = timedelta(seconds=60)

__all__ = ["MAX_PASSWORD", "MIN_PASSWORD", "hash_password", "password_problem"]


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def email_problem(email: str) -> str | None:
    """What is wrong with an email address, as a sentence for the form, or None."""
    problem = text_input.email_problem(email)
    if problem is None and not _EMAIL.match(normalize_email(email)):
        problem = "Enter a valid email address, like you@example.com."
    return problem


def email_in_use(session: Session, *, email: str) -> bool:
    """Whether an account already holds this (normalized) address."""
    return session.exec(select(Profile.id).where(Profile.email == email)).first() is not None


def validate_signup(*, email: str, password: str, name: str) -> dict[str, str]:
    """Field errors for a sign-up form (empty when valid)."""
    errors: dict[str, str] = {}
    email_error = email_problem(email)
    if email_error:
        errors["email"] = email_error
    password_error = password_problem(password, email=normalize_email(email))
    if password_error:
        errors["password"] = password_error
    name_error = text_input.name_problem(name)
    if name_error:
        errors["name"] = name_error
    return errors


def sign_up(session: Session, *, email: str, password: str, name: str = "",
            password_hash: str | None = None, plan: str | None = None) -> Profile:
    """Create a Free, unconfirmed account and email it a confirmation link. Raises
    InvalidInput with field errors, or Conflict.

    Routes pass `password_hash`, computed before the transaction
    (`passwords.hash_password_async`); without it the hash is computed here (tools only).
    `plan` is a paid plan chosen before sign-up: Checkout opens for it once confirmed."""
    from aether_web.services import verification

    errors = validate_signup(email=email, password=password, name=name)
    if errors:
        raise InvalidInput("Please fix the highlighted fields.", fields=errors)
    email = normalize_email(email)
    if session.exec(select(Profile.id).where(Profile.email == email)).first():
        raise Conflict(
            "An account with this email already exists. Log in instead.",
            code="email_taken",
            fields={"email": "An account with this email already exists."},
        )
    chosen = (plan or "").strip().lower()
    profile = Profile(email=email, name=(name or "").strip(),
                      password_hash=password_hash or hash_password(password),
                      signup_plan=chosen if chosen in PAID_PLAN_KEYS else None)
    session.add(profile)
    try:
        session.flush()
    except sa.exc.IntegrityError as exc:  # a simultaneous sign-up with the same email
        raise Conflict("An account with this email already exists.", code="email_taken") from exc
    from aether_web.services.plan_history import start_history

    start_history(session, profile=profile)
    verification.send_verification(session, profile=profile)
    return profile


def login_candidate(session: Session, *, email: str) -> tuple[uuid.UUID | None, str]:
    """The id and stored hash of the account behind `email` ((None, "") when there is none),
    read so the password can be verified outside the transaction."""
    if text_input.email_problem(email):
        return None, ""
    row = session.exec(
        select(Profile.id, Profile.password_hash).where(Profile.email == normalize_email(email),
                                                        Profile.deleted_at.is_(None))
    ).first()
    if row is None or not row[1]:
        return None, ""
    return row[0], row[1]


def replace_password_hash(session: Session, *, user_id: uuid.UUID, old_hash: str,
                          new_hash: str) -> None:
    """Store a rehash of the same password, unless the password changed in the meantime."""
    session.exec(
        sa.update(Profile)
        .where(Profile.id == user_id, Profile.password_hash == old_hash)
        .values(password_hash=new_hash)
    )


def token_hash(token: str) -> str:
    """The SHA-256 (hex) stored in place of a secret token."""
    return hashlib.sha256(token.encode()).hexdigest()


_token_hash = token_hash


def create_session(
    session: Session, *, user_id: uuid.UUID, ip: str = "", user_agent: str = "",
    replaces: str | None = None,
) -> str:
    """A new random session token (a new id at every log-in); only its hash is stored.
    `replaces` is the token the browser held before: it stops working (session rotation)."""
    from aether_web.settings import get_settings

    end_session(session, token=replaces)
    token = secrets.token_urlsafe(32)
    now = db_now(session)
    session.add(
        AuthSession(
            token_hash=_token_hash(token),
            user_id=user_id,
            expires_at=now + timedelta(hours=get_settings().session_ttl_hours),
            last_seen_at=now,
            ip=ip[:64],
            user_agent=(user_agent or "")[:255],
        )
    )
    return token


def session_for_token(session: Session, *, token: str | None) -> AuthSession | None:
    """The live session row for a token: None when missing, unknown, past its absolute
    lifetime or idle for longer than the idle timeout. Marks it as seen now."""
    from aether_web.settings import get_settings

    if not token or len(token) > 200:
        return None
    row = session.get(AuthSession, _token_hash(token))
    if row is None:
        return None
    now = db_now(session)
    last_seen = row.last_seen_at or row.created_at or now
    idle = timedelta(minutes=get_settings().session_idle_minutes)
    if row.expires_at <= now or last_seen + idle <= now:
        return None
    if now - last_seen >= _TOUCH_EVERY:
        session.exec(sa.update(AuthSession).where(AuthSession.token_hash == row.token_hash)
                     .values(last_seen_at=now))
    return row


def user_for_token(session: Session, *, token: str | None) -> Profile | None:
    """The signed-in user for a session token, or None when missing, unknown, expired or
    idle too long."""
    row = session_for_token(session, token=token)
    if row is None:
        return None
    profile = session.get(Profile, row.user_id)
    if profile is None or profile.deleted_at is not None:
        return None
    return profile


def end_sessions(session: Session, *, user_id: uuid.UUID, keep_token: str | None = None) -> int:
    """Sign the user out everywhere (but the session of `keep_token`). Returns how many ended."""
    stmt = sa.delete(AuthSession).where(AuthSession.user_id == user_id)
    if keep_token:
        stmt = stmt.where(AuthSession.token_hash != _token_hash(keep_token))
    return session.exec(stmt).rowcount or 0


def end_session(session: Session, *, token: str | None) -> None:
    """Log out: the token stops working at once."""
    if token:
        session.exec(sa.delete(AuthSession).where(AuthSession.token_hash == _token_hash(token)))


def lock_profile(session: Session, *, user_id: uuid.UUID) -> None:
    """Take the user's write lock until the transaction ends (PostgreSQL row lock; SQLite's
    BEGIN IMMEDIATE already serialises writers). Limit checks run after this."""
    session.exec(
        sa.update(Profile)
        .where(Profile.id == user_id)
        .values(lock_version=Profile.lock_version + 1)
    )


def create_admin(session: Session, *, email: str, password: str, name: str = "") -> Profile:
    """Create an admin, or promote an existing account to admin."""
    existing = session.exec(select(Profile).where(Profile.email == normalize_email(email))).first()
    if existing:
        existing.is_admin = True
        return existing
    profile = sign_up(session, email=email, password=password, name=name)
    profile.is_admin = True
    profile.email_verified_at = db_now(session)  # the operator vouches for the address
    return profile
