"""Column types shared by the tables."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from aether_web.billing.plans import PlanKey


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on PostgreSQL and SQLite alike.

    SQLite has no time zones: values are stored as naive UTC and read back as aware UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC value")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def plan_key_check(name: str) -> sa.CheckConstraint:
    """A `plan` column holds one of the catalogue's keys (`billing.plans.PlanKey`)."""
    keys = ", ".join(f"'{key.value}'" for key in PlanKey)
    return sa.CheckConstraint(f"plan in ({keys})", name=name)


def utc_column(*, nullable: bool = True, server_now: bool = False, index: bool = False):
    """A UTCDateTime column; `server_now` fills it with the database's clock on insert."""
    return sa.Column(
        UTCDateTime(),
        nullable=nullable,
        server_default=sa.func.now() if server_now else None,
        index=index,
    )


def user_column(*, ondelete: str | None = "CASCADE", nullable: bool = False,
                index: bool = False) -> sa.Column:
    """A row's user: a `profiles.id` foreign key, the row deleted with the profile unless
    `ondelete` says otherwise (None: the profile can't be deleted while the row exists)."""
    return sa.Column(sa.Uuid(), sa.ForeignKey("profiles.id", ondelete=ondelete),
                     nullable=nullable, index=index)


def month_column() -> sa.Column:
    """A month, stored as the date of its first day."""
    return sa.Column(sa.Date(), nullable=False)
