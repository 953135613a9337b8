"""Billing records: Stripe events as received, invoices, overage reports, meter checks, mail."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from aether_web.models.types import month_column, user_column, utc_column


class StripeEvent(SQLModel, table=True):
    """One Stripe event, stored raw before it is processed so it can always be replayed."""

    __tablename__ = "stripe_events"
    __table_args__ = (
        sa.CheckConstraint(
            "status in ('pending', 'processed', 'failed', 'ignored')",
            name="ck_stripe_events_status",
        ),
        sa.Index("ix_stripe_events_status_received", "status", "received_at"),
    )

    id: str = Field(primary_key=True, max_length=255)  # Stripe's evt_... id
    type: str = Field(max_length=128)
    # Stripe's `created` (unix seconds): orders events about the same object.
    created: int = Field(sa_type=sa.BigInteger)
    payload: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    status: str = Field(default="pending", max_length=16)
    attempts: int = Field(default=0)
    # What processing did ("plan free -> pro", "stale", ...), for support.
    outcome: str = Field(default="", sa_column=sa.Column(sa.Text(), nullable=False, default=""))
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    received_at: datetime | None = Field(default=None, sa_column=utc_column(server_now=True))
    processed_at: datetime | None = Field(default=None, sa_column=utc_column())


class InvoiceRecord(SQLModel, table=True):
    """A Stripe invoice of a user, as last reported by an invoice event."""

    __tablename__ = "invoices"
    __table_args__ = (sa.Index("ix_invoices_user_created", "user_id", "invoice_created"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    stripe_invoice_id: str = Field(
        sa_column=sa.Column(sa.String(255), nullable=False, unique=True)
    )
    user_id: uuid.UUID = Field(sa_column=user_column())
    stripe_subscription_id: str | None = Field(default=None, max_length=255)
    number: str | None = Field(default=None, max_length=64)
    status: str = Field(max_length=32)  # paid | open | payment_failed | void | ...
    currency: str = Field(default="usd", max_length=8)
    total_cents: int = Field(default=0, sa_type=sa.BigInteger)
    amount_paid_cents: int = Field(default=0, sa_type=sa.BigInteger)
    amount_due_cents: int = Field(default=0, sa_type=sa.BigInteger)
    period_start: datetime | None = Field(default=None, sa_column=utc_column())
    period_end: datetime | None = Field(default=None, sa_column=utc_column())
    hosted_invoice_url: str | None = Field(default=None, max_length=1024)
    invoice_created: datetime | None = Field(default=None, sa_column=utc_column())
    paid_at: datetime | None = Field(default=None, sa_column=utc_column())
    # The `created` of the event that last wrote this row: older events do not overwrite it.
    stripe_event_created: int = Field(default=0, sa_type=sa.BigInteger)
    updated_at: datetime | None = Field(default=None, sa_column=utc_column(server_now=True))


class OverageReport(SQLModel, table=True):
    """One meter event for one user, month and meter, recorded before it is sent to Stripe."""

    __tablename__ = "overage_reports"
    __table_args__ = (
        sa.UniqueConstraint("identifier", name="uq_overage_reports_identifier"),
        sa.Index("ix_overage_reports_status", "status"),
        sa.Index("ix_overage_reports_user_month", "user_id", "month"),
        sa.Index("ix_overage_reports_month_status", "month", "status"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(sa_column=user_column(ondelete=None))
    month: date = Field(sa_column=month_column())
    meter: str = Field(max_length=64)  # the meter's event_name
    identifier: str = Field(max_length=128)  # f"{user_id}:{YYYY-MM}:{compute|storage}"
    stripe_customer_id: str = Field(max_length=255)
    plan: str = Field(max_length=16)
    units: int = Field(sa_type=sa.BigInteger)
    cents: int = Field(sa_type=sa.BigInteger)
    # The meter event's timestamp (inside the month it bills).
    event_timestamp: int = Field(sa_type=sa.BigInteger)
    # pending -> accepted (Stripe answered 2xx) -> invoiced | refused (a 4xx that is not a
    # rate limit) | late -> item_billed. Never anything else while Stripe is merely down.
    status: str = Field(default="pending", max_length=16)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    created_at: datetime | None = Field(default=None, sa_column=utc_column(server_now=True))
    # when Stripe accepted it
    sent_at: datetime | None = Field(default=None, sa_column=utc_column())


class OverageMonth(SQLModel, table=True):
    """A month whose overage the month-end job planned (once), and when Stripe had all of it."""

    __tablename__ = "overage_months"

    month: date = Field(sa_column=sa.Column(sa.Date(), primary_key=True))
    started_at: datetime = Field(sa_column=utc_column(nullable=False))
    # set once every bill of the month has its rows; until then a run plans it (again)
    planned_at: datetime | None = Field(default=None, sa_column=utc_column())
    bills: int = Field(default=0)
    reports: int = Field(default=0)
    accepted_at: datetime | None = Field(default=None, sa_column=utc_column())


class MeterReconciliation(SQLModel, table=True):
    """Our overage units against what Stripe's meter counted, per user, month and meter."""

    __tablename__ = "meter_reconciliations"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "month", "meter", name="uq_meter_reconciliations_key"),
        sa.Index("ix_meter_reconciliations_status", "status"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(sa_column=user_column(ondelete=None))
    month: date = Field(sa_column=month_column())
    meter: str = Field(max_length=64)
    our_units: int = Field(sa_type=sa.BigInteger)
    stripe_units: int = Field(sa_type=sa.BigInteger)
    status: str = Field(max_length=16)  # match | mismatch
    checked_at: datetime | None = Field(default=None, sa_column=utc_column(server_now=True))


class EmailOutbox(SQLModel, table=True):
    """Every email the product sends. Written in the caller's transaction, delivered after.

    `status`: pending (to send over SMTP), sending (taken by a deliverer; `sent_at` is when),
    sent, failed (gave up), outbox (no SMTP configured: the row itself is the delivery, as in
    local development).
    """

    __tablename__ = "email_outbox"
    __table_args__ = (sa.Index("ix_email_outbox_status_created", "status", "created_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID | None = Field(
        default=None, sa_column=user_column(ondelete="SET NULL", nullable=True))
    to: str = Field(max_length=320)
    subject: str = Field(max_length=255)
    body: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    kind: str = Field(default="", max_length=64)  # payment_failed, plan_changed, ...
    status: str = Field(default="pending", max_length=16)
    attempts: int = Field(default=0)
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    created_at: datetime | None = Field(default=None, sa_column=utc_column(server_now=True))
    sent_at: datetime | None = Field(default=None, sa_column=utc_column())
