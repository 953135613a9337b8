"""Sign-up, log-in with throttling, and server-side sessions."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from aether_web.db import db_now
from aether_web.errors import Conflict, InvalidInput, RateLimited, Unauthenticated
from aether_web.models import AuthSession, LoginAttempt, Profile

# argon2id with the library's RFC 9106 low-memory profile.
_hasher = PasswordHasher()
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 10
# Hashing a throwaway value for unknown emails keeps their timing like known ones.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def validate_signup(*, email: str, password: str, name: str) -> dict[str, str]:
    """Field errors for a sign-up form (empty when valid)."""
    errors: dict[str, str] = {}
    email = normalize_email(email)
    if not email:
        errors["email"] = "Enter your email address."
    elif len(email) > 320 or not _EMAIL.match(email):
        errors["email"] = "Enter a valid email address, like you@example.com."
    if len(password or "") < MIN_PASSWORD:
        errors["password"] = f"Use at least {MIN_PASSWORD} characters for your password."
    elif len(password) > 256:
        errors["password"] = "Use at most 256 characters for your password."
    if len((name or "").strip()) > 120:
        errors["name"] = "Use at most 120 characters for your name."
    return errors


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def sign_up(session: Session, *, email: str, password: str, name: str = "") -> Profile:
    """Create a Free account. Raises InvalidInput with field errors, or Conflict."""
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
    profile = Profile(email=email, name=(name or "").strip(), password_hash=hash_password(password))
    session.add(profile)
    try:
        session.flush()
    except sa.exc.IntegrityError as exc:  # a simultaneous sign-up with the same email
        raise Conflict("An account with this email already exists.", code="email_taken") from exc
    from aether_web.services.plan_history import start_history

    start_history(session, profile=profile, at=db_now(session))
    return profile


def authenticate(session: Session, *, email: str, password: str, ip: str = "") -> Profile:
    """The profile for valid credentials; throttles repeated failures per email.

    Raises RateLimited after too many recent failures, Unauthenticated on bad credentials.
    Failed attempts are recorded by `record_failed_login` in their own transaction so the
    count survives the caller's rollback.
    """
    from aether_web.settings import get_settings

    settings = get_settings()
    email = normalize_email(email)
    now = db_now(session)
    since = now - timedelta(minutes=settings.login_window_minutes)
    failures = session.exec(
        select(sa.func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.email == email, LoginAttempt.attempted_at >= since)
    ).one()
    if failures >= settings.login_max_failures:
        raise RateLimited(
            f"Too many failed log-ins for this email. Try again in "
            f"{settings.login_window_minutes} minutes, or reset your password.",
            code="too_many_attempts",
        )
    profile = session.exec(select(Profile).where(Profile.email == email)).first()
    stored = profile.password_hash if profile and profile.password_hash else _DUMMY_HASH
    try:
        _hasher.verify(stored, password or "")
        ok = profile is not None and bool(profile.password_hash)
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        raise Unauthenticated("Wrong email or password.", code="invalid_credentials")
    if _hasher.check_needs_rehash(profile.password_hash):
        profile.password_hash = hash_password(password)
    return profile


def record_failed_login(session: Session, *, email: str, ip: str = "") -> None:
    """Count one failed log-in for throttling."""
    session.add(LoginAttempt(email=normalize_email(email), ip=ip[:64]))


def clear_failed_logins(session: Session, *, email: str) -> None:
    session.exec(sa.delete(LoginAttempt).where(LoginAttempt.email == normalize_email(email)))


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
