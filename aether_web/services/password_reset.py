"""Password reset by email: one link, used once, within the hour; every session ends."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from aether_web.db import db_now
from aether_web.errors import InvalidInput
from aether_web.models import Profile
from aether_web.services import account_tokens
from aether_web.services.accounts import end_sessions, normalize_email
from aether_web.services.email import queue_email
from aether_web.services.passwords import hash_password, password_problem
from aether_web.settings import get_settings

PURPOSE = "password_reset"
# Reset emails one account receives in an hour at most; more requests change nothing.
MAX_SENDS_PER_HOUR = 3
# What every request is answered, whether or not an account has the address.
SENT_MESSAGE = ("If an account uses that address, we've emailed it a link to choose a new "
                "password. The link works once, within the hour.")


def request_reset(session: Session, *, email: str) -> None:
    """Email a reset link to the account with this address, if there is one. The caller
    answers SENT_MESSAGE either way, so the answer tells nothing about who has an account."""
    settings = get_settings()
    address = normalize_email(email)
    if not address or len(address) > 320:
        return
    profile = session.exec(
        select(Profile).where(Profile.email == address, Profile.deleted_at.is_(None))
    ).first()
    if profile is None:
        return
    since = db_now(session) - timedelta(hours=1)
    if account_tokens.recent_count(session, user_id=profile.id, purpose=PURPOSE,
                                   since=since) >= MAX_SENDS_PER_HOUR:
        return
    minutes = settings.reset_token_minutes
    token = account_tokens.issue_token(session, user_id=profile.id, purpose=PURPOSE,
                                       email=profile.email, ttl=timedelta(minutes=minutes))
    link = f"{settings.public_url.rstrip('/')}/reset-password?token={token}"
    queue_email(
        session, to=profile.email, subject="Reset your aether password",
        body=(f"Someone (hopefully you) asked to reset the password of your aether account.\n\n"
              f"Choose a new password here (the link works once, for {minutes} minutes):\n\n"
              f"{link}\n\nIf it wasn't you, ignore this email: your password stays as it is.\n"),
        kind="password_reset", user_id=profile.id)


def reset_link_is_live(session: Session, *, token: str) -> bool:
    """Whether a reset link can still be used (for the page, before the form is sent)."""
    return account_tokens.peek_token(session, token=token, purpose=PURPOSE) is not None


def check_reset(session: Session, *, token: str, password: str) -> None:
    """Raise InvalidInput unless the link is live and the password acceptable: `invalid_token`
    (unknown, used or expired link) or `weak_password` with a field error."""
    row = account_tokens.peek_token(session, token=token, purpose=PURPOSE)
    if row is None:
        raise InvalidInput(account_tokens.INVALID_LINK, code="invalid_token")
    if problem := password_problem(password, email=row.email):
        raise InvalidInput(problem, code="weak_password", fields={"password": problem})


def reset_password(session: Session, *, token: str, password: str,
                   password_hash: str | None = None) -> Profile:
    """Set a new password from a reset link (used up) and end every session of the account.

    Routes check first (`check_reset`) and pass `password_hash`, computed outside the
    transaction; without it the hash is computed here (tools only). Raises as `check_reset`;
    a weak password does not use the link up."""
    check_reset(session, token=token, password=password)
    row = account_tokens.use_token(session, token=token, purpose=PURPOSE)
    profile = session.get(Profile, row.user_id)
    if profile is None or profile.deleted_at is not None or profile.email != row.email:
        raise InvalidInput(account_tokens.INVALID_LINK, code="invalid_token")
    now = db_now(session)
    profile.password_hash = password_hash or hash_password(password)
    if profile.email_verified_at is None:
        profile.email_verified_at = now  # the link proved the mailbox is theirs
    profile.updated_at = now
    session.add(profile)
    end_sessions(session, user_id=profile.id)
    queue_email(session, to=profile.email, subject="Your aether password was changed",
                body=("The password of your aether account was just changed, and every "
                      "device was signed out. If this wasn't you, reset it again at once "
                      f"from {get_settings().public_url.rstrip('/')}/forgot-password.\n"),
                kind="password_changed", user_id=profile.id)
    return profile
