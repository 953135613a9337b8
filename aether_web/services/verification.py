"""Confirming an email address by a link: at sign-up, and before an email change applies."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session

from aether_web.db import db_now
from aether_web.errors import Conflict, InvalidInput, NotFound, RateLimited
from aether_web.models import Profile
from aether_web.services import account_tokens
from aether_web.services.accounts import email_in_use, email_problem, normalize_email
from aether_web.services.email import queue_email
from aether_web.settings import get_settings

PURPOSE = "verify_email"
# Confirmation emails a user can ask for in an hour (the first at sign-up counts).
MAX_SENDS_PER_HOUR = 5


def _live_profile(session: Session, user_id: uuid.UUID) -> Profile:
    profile = session.get(Profile, user_id)
    if profile is None or profile.deleted_at is not None:
        raise NotFound("Account not found.", code="account_not_found")
    return profile


def is_verified(profile: Profile) -> bool:
    """Whether the account's current address has been confirmed."""
    return profile.email_verified_at is not None


def send_verification(session: Session, *, profile: Profile, email: str | None = None) -> None:
    """Email a confirmation link to `email` (default: the account's address)."""
    settings = get_settings()
    address = email or profile.email
    token = account_tokens.issue_token(session, user_id=profile.id, purpose=PURPOSE,
                                       email=address,
                                       ttl=timedelta(hours=settings.verify_token_hours))
    link = f"{settings.public_url.rstrip('/')}/verify-email?token={token}"
    if address == profile.email:
        subject = "Confirm your email address for aether"
        body = (f"Welcome to aether!\n\nConfirm that this is your address by opening this "
                f"link (it works for {settings.verify_token_hours} hours):\n\n{link}\n\n"
                "Until then you can use the Free plan with one VM running at a time. "
                "If you didn't sign up, ignore this email.\n")
    else:
        subject = "Confirm your new email address for aether"
        body = (f"Someone (hopefully you) asked to change the email address of an aether "
                f"account to this one. Open this link to confirm it (it works for "
                f"{settings.verify_token_hours} hours):\n\n{link}\n\n"
                "Until you do, the account keeps its old address. If it wasn't you, ignore "
                "this email.\n")
    queue_email(session, to=address, subject=subject, body=body, kind="verify_email",
                user_id=profile.id)


def resend_verification(session: Session, *, user_id: uuid.UUID) -> bool:
    """Send the sign-up confirmation link again. False when already confirmed; RateLimited
    after MAX_SENDS_PER_HOUR in an hour."""
    profile = _live_profile(session, user_id)
    if is_verified(profile):
        return False
    since = db_now(session) - timedelta(hours=1)
    if account_tokens.recent_count(session, user_id=profile.id, purpose=PURPOSE,
                                   since=since) >= MAX_SENDS_PER_HOUR:
        raise RateLimited("We've sent several links in the last hour. Check your inbox and "
                          "spam folder, or try again later.", code="too_many_emails")
    send_verification(session, profile=profile)
    return True


def request_email_change(
    session: Session, *, user_id: uuid.UUID, new_email: str, password: str = "",
    verified_hash: str | None = None,
) -> str:
    """Send a confirmation link to a new address; the account keeps its address until the
    link is opened. Needs the current password (`account_settings.check_password`).
    Returns the normalized new address."""
    from aether_web.services.account_settings import check_password

    profile = _live_profile(session, user_id)
    check_password(profile, password, verified_hash=verified_hash)
    if problem := email_problem(new_email):
        raise InvalidInput(problem, code="invalid_email", fields={"email": problem})
    address = normalize_email(new_email)
    if address == profile.email:
        raise InvalidInput("That is already your email address.", code="same_email",
                           fields={"email": "That is already your email address."})
    if email_in_use(session, email=address):
        raise Conflict("Another account uses that email address.", code="email_taken",
                       fields={"email": "Another account uses that email address."})
    send_verification(session, profile=profile, email=address)
    queue_email(session, to=profile.email, subject="Your aether email address is changing",
                body=(f"Someone signed in to your aether account asked to change its email "
                      f"address to {address}. It changes only once the link sent there is "
                      "opened. If this wasn't you, change your password in Settings now.\n"),
                kind="email_change_notice", user_id=profile.id)
    return address


def changes_address(session: Session, *, token: str) -> bool:
    """Whether a live confirmation link is an email change (not a sign-up confirmation)."""
    row = account_tokens.peek_token(session, token=token, purpose=PURPOSE)
    profile = session.get(Profile, row.user_id) if row is not None else None
    return profile is not None and row is not None and row.email != profile.email


def confirm_email(session: Session, *, token: str) -> Profile:
    """Open a confirmation link: the sign-up address becomes verified, or an email change
    applies (the new address replaces the old, verified). Raises InvalidInput
    (`invalid_token`) or Conflict when another account took the new address meanwhile."""
    row = account_tokens.use_token(session, token=token, purpose=PURPOSE)
    profile = session.get(Profile, row.user_id)
    if profile is None or profile.deleted_at is not None:
        raise InvalidInput(account_tokens.INVALID_LINK, code="invalid_token")
    now = db_now(session)
    if row.email != profile.email:
        if email_in_use(session, email=row.email):
            raise Conflict("Another account uses that email address now.", code="email_taken")
        profile.email = row.email
        profile.email_verified_at = now
        session.add(profile)
        try:
            session.flush()
        except sa.exc.IntegrityError as exc:
            raise Conflict("Another account uses that email address now.",
                           code="email_taken") from exc
    elif profile.email_verified_at is None:
        profile.email_verified_at = now
        session.add(profile)
    profile.updated_at = now
    return profile
