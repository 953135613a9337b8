"""From a period's overage to Stripe's invoice: which invoices carry a period's overage, what
each finalized invoice held against our computation, and the overage billed as its own
labelled invoice item when it could not reach its period's invoice."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from aether_web.models.types import month_column, user_column, utc_column

# waiting: our overage is not in yet (Stripe answered nothing, or the hook failed);
# ready: our overage was accepted while the invoice was a draft;
# reconciled: the invoice was finalized and compared with our computation.
INVOICE_CHECK_STATUSES = ("waiting", "ready", "reconciled")
ADJUSTMENT_STATUSES = ("pending", "item_created", "billed", "failed")


class InvoiceCheck(SQLModel, table=True):
    """A Stripe invoice that bills a period's overage (renewal, final, or cancel-now)."""

    __tablename__ = "invoice_checks"
    __table_args__ = (
        sa.UniqueConstraint("stripe_invoice_id", name="uq_invoice_checks_invoice"),
        sa.CheckConstraint("status in ('waiting', 'ready', 'reconciled')",
                           name="ck_invoice_checks_status"),
        sa.Index("ix_invoice_checks_status", "status"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    stripe_invoice_id: str = Field(max_length=255)
    user_id: uuid.UUID = Field(sa_column=user_column())
    month: date = Field(sa_column=month_column())
    billing_reason: str = Field(default="", max_length=64)
    status: str = Field(default="waiting", max_length=16)
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    created_at: datetime | None = Field(default=None, sa_column=utc_column(server_now=True))
    checked_at: datetime | None = Field(default=None, sa_column=utc_column())


class InvoiceReconciliation(SQLModel, table=True):
    """One meter of one finalized invoice against our computation of its period."""

    __tablename__ = "invoice_reconciliations"
    __table_args__ = (
        sa.UniqueConstraint("stripe_invoice_id", "meter", name="uq_invoice_reconciliations_key"),
        sa.Index("ix_invoice_reconciliations_user_month", "user_id", "month"),
        sa.Index("ix_invoice_reconciliations_status", "status"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    stripe_invoice_id: str = Field(max_length=255)
    user_id: uuid.UUID = Field(sa_column=user_column())
    month: date = Field(sa_column=month_column())
    meter: str = Field(max_length=64)
    our_units: int = Field(sa_type=sa.BigInteger)
    invoice_units: int = Field(sa_type=sa.BigInteger)
    # Units of this month already billed as a labelled item elsewhere.
    item_units: int = Field(default=0, sa_type=sa.BigInteger)
    status: str = Field(max_length=16)  # match | short | over
    action: str = Field(default="", sa_column=sa.Column(sa.Text(), nullable=False, default=""))
    checked_at: datetime | None = Field(default=None, sa_column=utc_column(server_now=True))


class OverageAdjustment(SQLModel, table=True):
    """A period's overage billed once as its own labelled invoice item ("Overage for November
    2026"), because its period's invoice was finalized without it or Stripe refused it."""

    __tablename__ = "overage_adjustments"
    __table_args__ = (
        sa.UniqueConstraint("idempotency_key", name="uq_overage_adjustments_key"),
        sa.CheckConstraint("status in ('pending', 'item_created', 'billed', 'failed')",
                           name="ck_overage_adjustments_status"),
        sa.CheckConstraint("units > 0", name="ck_overage_adjustments_units"),
        sa.Index("ix_overage_adjustments_status", "status"),
        sa.Index("ix_overage_adjustments_user_month", "user_id", "month"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(sa_column=user_column())
    month: date = Field(sa_column=month_column())
    meter: str = Field(max_length=64)
    # f"overage-item:{user_id}:{YYYY-MM}:{compute|storage}": one item per user, month, meter.
    idempotency_key: str = Field(max_length=160)
    stripe_customer_id: str = Field(max_length=255)
    units: int = Field(sa_type=sa.BigInteger)
    cents: int = Field(sa_type=sa.BigInteger)
    reason: str = Field(max_length=32)  # late | refused | no_final_invoice
    description: str = Field(max_length=500)
    status: str = Field(default="pending", max_length=16)
    attempts: int = Field(default=0)
    stripe_invoice_item_id: str | None = Field(default=None, max_length=255)
    # The invoice the item is on (set when it is seen there, or on an invoice of its own).
    stripe_invoice_id: str | None = Field(default=None, max_length=255)
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    created_at: datetime | None = Field(default=None, sa_column=utc_column(server_now=True))
    billed_at: datetime | None = Field(default=None, sa_column=utc_column())
