"""The user (`profiles`), their sign-in sessions and the account links we email."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from aether_web.billing.plans import PlanKey
from aether_web.models.types import plan_key_check, user_column, utc_column


class Profile(SQLModel, table=True):
    """A user of aether. `plan` is what they are entitled to right now."""

    __tablename__ = "profiles"
    __table_args__ = (
        plan_key_check("ck_profiles_plan"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(sa_column=sa.Column(sa.String(320), nullable=False, unique=True))
    name: str = Field(default="", max_length=120)
    password_hash: str = Field(default="", max_length=255)
    is_admin: bool = Field(default=False)
    plan: str = Field(default=PlanKey.FREE, sa_column_kwargs={"server_default": PlanKey.FREE.value},
                      max_length=16)
    stripe_customer_id: str | None = Field(
        default=None, sa_column=sa.Column(sa.String(255), unique=True, nullable=True)
    )
    stripe_subscription_id: str | None = Field(default=None, max_length=255)
    # Stripe's view of the subscription ("active", "past_due", "canceled", ...).
    subscription_status: str | None = Field(default=None, max_length=32)
    # The `created` of the newest Stripe event applied to this profile: older ones are stale.
    stripe_synced_at: int | None = Field(default=None, sa_type=sa.BigInteger)
    # Set while a payment has failed; the paid plan is kept until grace_ends_at.
    past_due_since: datetime | None = Field(default=None, sa_column=utc_column())
    grace_ends_at: datetime | None = Field(default=None, sa_column=utc_column())
    welcomed_at: datetime | None = Field(default=None, sa_column=utc_column())
    # When the address in `email` was confirmed by a link sent to it (None: not yet).
    email_verified_at: datetime | None = Field(default=None, sa_column=utc_column())
    # The paid plan chosen on /pricing before sign-up: Checkout opens for it once verified.
    signup_plan: str | None = Field(default=None, max_length=16)
    # Set when the account was deleted: personal data is gone, billing records stay.
    deleted_at: datetime | None = Field(default=None, sa_column=utc_column())
    # Bumped to take a write lock on the user (limit checks inside one transaction).
    lock_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime | None = Field(default=None, sa_column=utc_column(server_now=True))
    updated_at: datetime | None = Field(default=None, sa_column=utc_column(server_now=True))


class AuthSession(SQLModel, table=True):
    """A signed-in browser. Only the SHA-256 of the cookie's token is stored."""

    __tablename__ = "auth_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: uuid.UUID = Field(sa_column=user_column(index=True))
    created_at: datetime | None = Field(default=None, sa_column=utc_column(server_now=True))
    expires_at: datetime = Field(sa_column=utc_column(nullable=False))
    # The last request seen on this session (touched at most once a minute): idle timeout.
    last_seen_at: datetime | None = Field(default=None, sa_column=utc_column(server_now=True))
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=255)


TOKEN_PURPOSES = ("password_reset", "verify_email")


class AccountToken(SQLModel, table=True):
    """A link we emailed (password reset, email confirmation). Only its SHA-256 is stored;
    it works once (`used_at`) and until `expires_at`. For `verify_email`, `email` is the
    address the link confirms: the current one, or the new one of an email change."""

    __tablename__ = "account_tokens"
    __table_args__ = (
        sa.CheckConstraint("purpose in ('password_reset', 'verify_email')",
                           name="ck_account_tokens_purpose"),
        sa.Index("ix_account_tokens_user_purpose", "user_id", "purpose"),
    )

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: uuid.UUID = Field(sa_column=user_column())
    purpose: str = Field(max_length=32)
    email: str = Field(sa_column=sa.Column(sa.String(320), nullable=False))
    created_at: datetime | None = Field(default=None, sa_column=utc_column(server_now=True))
    expires_at: datetime = Field(sa_column=utc_column(nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=utc_column())
