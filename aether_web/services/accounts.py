"""Sign-up, log-in with throttling, and server-side sessions."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.db import db_now
from aether_web.errors import Conflict, InvalidInput, RateLimited, Unauthenticated
from aether_web.models import AuthSession, LoginAttempt, Profile
from aether_web.services.passwords import (
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Hashing a throwaway value for unknown emails keeps their timing like known ones.
_DUMMY_HASH = hash_password("not-a-real-password")
# A session's last_seen_at is written at most this often (not at every event).
_TOUCH_EVERY = timedelta(seconds=60)


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def email_problem(email: str) -> str | None:
    """What is wrong with an email address, as a sentence for the form, or None."""
    email = normalize_email(email)
    if not email:
        return "Enter your email address."
    if len(email) > 320 or not _EMAIL.match(email):
        return "Enter a valid email address, like you@example.com."
    return None


def validate_signup(*, email: str, password: str, name: str) -> dict[str, str]:
    """Field errors for a sign-up form (empty when valid)."""
    errors: dict[str, str] = {}
    if problem := email_problem(email):
        errors["email"] = problem
    if problem := password_problem(password, email=normalize_email(email)):
        errors["password"] = problem
    if len((name or "").strip()) > 120:
        errors["name"] = "Use at most 120 characters for your name."
    return errors


def email_in_use(session: Session, *, email: str) -> bool:
    """Whether an account already holds this (normalized) address."""
    return session.exec(select(Profile.id).where(Profile.email == email)).first() is not None


def sign_up(
    session: Session, *, email: str, password: str, name: str = "", plan: str | None = None,
) -> Profile:
    """Create a Free, unverified account and email it a confirmation link. `plan` is a paid
    plan chosen before sign-up: Checkout opens for it once the address is confirmed.
    Raises InvalidInput with field errors, or Conflict."""
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
    profile = Profile(email=email, name=(name or "").strip(), password_hash=hash_password(password),
                      signup_plan=chosen if chosen in ("pro", "team") else None)
    session.add(profile)
    try:
        session.flush()
    except sa.exc.IntegrityError as exc:  # a simultaneous sign-up with the same email
        raise Conflict("An account with this email already exists.", code="email_taken") from exc
    verification.send_verification(session, profile=profile)
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
    ok = verify_password(stored, password) and profile is not None and bool(profile.password_hash)
    if not ok or profile is None:
        raise Unauthenticated("Wrong email or password.", code="invalid_credentials")
    if needs_rehash(profile.password_hash):
        profile.password_hash = hash_password(password)
    return profile


def record_failed_login(session: Session, *, email: str, ip: str = "") -> None:
    """Count one failed log-in for throttling."""
    session.add(LoginAttempt(email=normalize_email(email), ip=ip[:64]))


def clear_failed_logins(session: Session, *, email: str) -> None:
    """Forget the failed log-ins of an address (after a log-in or a password reset)."""
    session.exec(sa.delete(LoginAttempt).where(LoginAttempt.email == normalize_email(email)))


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
