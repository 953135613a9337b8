"""Links we email about an account: random tokens, stored as their SHA-256, used once."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.db import db_now
from aether_web.errors import InvalidInput
from aether_web.models import AccountToken
from aether_web.services.accounts import token_hash

INVALID_LINK = "This link is invalid or has expired. Ask for a new one."


def issue_token(
    session: Session, *, user_id: uuid.UUID, purpose: str, email: str, ttl: timedelta,
) -> str:
    """A new token for `purpose`; earlier unused ones of the same purpose stop working.
    Returns the raw token (for the emailed link); only its hash is stored."""
    now = db_now(session)
    session.exec(
        sa.update(AccountToken)
        .where(AccountToken.user_id == user_id, AccountToken.purpose == purpose,
               AccountToken.used_at.is_(None))
        .values(used_at=now)
    )
    token = secrets.token_urlsafe(32)
    session.add(AccountToken(token_hash=token_hash(token), user_id=user_id, purpose=purpose,
                             email=email, expires_at=now + ttl))
    session.flush()
    return token


def recent_count(session: Session, *, user_id: uuid.UUID, purpose: str, since: datetime) -> int:
    """How many tokens of `purpose` were issued to the user since `since` (mail flooding)."""
    return int(session.exec(
        select(sa.func.count()).select_from(AccountToken)
        .where(AccountToken.user_id == user_id, AccountToken.purpose == purpose,
               AccountToken.created_at >= since)
    ).one())


def peek_token(session: Session, *, token: str, purpose: str) -> AccountToken | None:
    """The live (unused, unexpired) token row, without using it up."""
    if not token or len(token) > 200:
        return None
    row = session.get(AccountToken, token_hash(token))
    if row is None or row.purpose != purpose or row.used_at is not None:
        return None
    if row.expires_at <= db_now(session):
        return None
    return row


def use_token(session: Session, *, token: str, purpose: str) -> AccountToken:
    """Use a token up (once, even under concurrent clicks). Raises InvalidInput
    (`invalid_token`) when it is unknown, used, expired or for another purpose."""
    row = peek_token(session, token=token, purpose=purpose)
    if row is None:
        raise InvalidInput(INVALID_LINK, code="invalid_token")
    used = session.exec(
        sa.update(AccountToken)
        .where(AccountToken.token_hash == row.token_hash, AccountToken.used_at.is_(None))
        .values(used_at=db_now(session))
    ).rowcount
    if used != 1:  # another request used it first
        raise InvalidInput(INVALID_LINK, code="invalid_token")
    return row


def pending_email_change(session: Session, *, user_id: uuid.UUID, current: str) -> str | None:
    """The new address of an email change waiting for its confirmation link, if any."""
    row = session.exec(
        select(AccountToken)
        .where(AccountToken.user_id == user_id, AccountToken.purpose == "verify_email",
               AccountToken.used_at.is_(None), AccountToken.email != current,
               AccountToken.expires_at > db_now(session))
        .order_by(AccountToken.created_at.desc())
    ).first()
    return row.email if row else None
