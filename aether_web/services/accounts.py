"""Sign-up, log-in and server-side sessions.

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

from aether_web.db import db_now
from aether_web.errors import Conflict, InvalidInput
from aether_web.models import AuthSession, Profile
from aether_web.services import text_input
from aether_web.services.passwords import hash_password

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# OWASP: at least 12 characters, any characters, no composition rules.
MIN_PASSWORD = 12
MAX_PASSWORD = 256

__all__ = ["MIN_PASSWORD", "hash_password"]


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def validate_signup(*, email: str, password: str, name: str) -> dict[str, str]:
    """Field errors for a sign-up form (empty when valid)."""
    errors: dict[str, str] = {}
    email_error = text_input.email_problem(email)
    if email_error:
        errors["email"] = email_error
    elif not _EMAIL.match(normalize_email(email)):
        errors["email"] = "Enter a valid email address, like you@example.com."
    password_error = password_problem(password)
    if password_error:
        errors["password"] = password_error
    name_error = text_input.name_problem(name)
    if name_error:
        errors["name"] = name_error
    return errors


def password_problem(password: str) -> str | None:
    """Why `password` can't be used, or None."""
    if len(password or "") < MIN_PASSWORD:
        return f"Use at least {MIN_PASSWORD} characters for your password."
    if len(password) > MAX_PASSWORD:
        return f"Use at most {MAX_PASSWORD} characters for your password."
    if "\x00" in password:
        return "Your password can't contain a NUL character."
    return None


def sign_up(session: Session, *, email: str, password: str, name: str = "",
            password_hash: str | None = None) -> Profile:
    """Create a Free account. Raises InvalidInput with field errors, or Conflict.

    Routes pass `password_hash`, computed before the transaction
    (`passwords.hash_password_async`); without it the hash is computed here (tools only)."""
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
    profile = Profile(email=email, name=(name or "").strip(),
                      password_hash=password_hash or hash_password(password))
    session.add(profile)
    try:
        session.flush()
    except sa.exc.IntegrityError as exc:  # a simultaneous sign-up with the same email
        raise Conflict("An account with this email already exists.", code="email_taken") from exc
    from aether_web.services.plan_history import start_history

    start_history(session, profile=profile, at=db_now(session))
    return profile


def login_candidate(session: Session, *, email: str) -> tuple[uuid.UUID | None, str]:
    """The id and stored hash of the account behind `email` ((None, "") when there is none),
    read so the password can be verified outside the transaction."""
    if text_input.email_problem(email):
        return None, ""
    row = session.exec(
        select(Profile.id, Profile.password_hash).where(Profile.email == normalize_email(email))
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


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(
    session: Session, *, user_id: uuid.UUID, ip: str = "", user_agent: str = ""
) -> str:
    """A new random session token (a new id at every log-in); only its hash is stored."""
    from aether_web.settings import get_settings

    token = secrets.token_urlsafe(32)
    expires = db_now(session) + timedelta(hours=get_settings().session_ttl_hours)
    session.add(
        AuthSession(
            token_hash=_token_hash(token),
            user_id=user_id,
            expires_at=expires,
            ip=ip[:64],
            user_agent=(user_agent or "")[:255],
        )
    )
    return token


def user_for_token(session: Session, *, token: str | None) -> Profile | None:
    """The signed-in user for a session token, or None when missing, unknown or expired."""
    if not token or len(token) > 200:
        return None
    row = session.get(AuthSession, _token_hash(token))
    if row is None or row.expires_at <= db_now(session):
        return None
    return session.get(Profile, row.user_id)


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
    return profile
