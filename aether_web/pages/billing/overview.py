"""What /billing shows, read for one user: `BillingOverview` (everything on the page when it
opens, this month priced alone, one transaction) and the slower parts read off the event loop
afterwards (the months of history, the daily chart, per-project lines, Stripe's invoice
preview, the card on file)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session

from aether_web.billing.money import format_cents
from aether_web.billing.plans import SECONDS_PER_HOUR, get_plan
from aether_web.db import db_now, read_transaction, transaction
from aether_web.integrations.stripe import get_gateway
from aether_web.models import InvoiceRecord
from aether_web.observability import log
from aether_web.services import billing as billing_service
from aether_web.services.billing import BillingSummary
from aether_web.services.billing_account import AccountDetails, account_details
from aether_web.services.daily_usage import daily_compute
from aether_web.services.period_bill import period_bill
from aether_web.services.upcoming_invoice import UpcomingInvoice, upcoming_invoice
from aether_web.services.usage_summary import usage_summary
from aether_web.state.usage_view import duration_text, has_any_usage, history_rows, number

STATUS_LABELS = {
    "active": "Active", "trialing": "Trial", "past_due": "Payment failed",
    "canceled": "Canceled", "incomplete": "Waiting for payment", "unpaid": "Unpaid",
}


def invoice_row(row: InvoiceRecord) -> dict[str, str]:
    """An invoice as the table shows it (all text)."""
    return {
        "id": row.stripe_invoice_id,
        "number": row.number or row.stripe_invoice_id,
        "date": row.invoice_created.strftime("%b %d, %Y") if row.invoice_created else "",
        "total": format_cents(row.total_cents),
        "status": {"paid": "Paid", "payment_failed": "Payment failed"}.get(row.status,
                                                                          row.status.title()),
        "url": row.hosted_invoice_url or "",
    }


@dataclass(frozen=True)
class BillingOverview:
    """Everything /billing shows when it opens, read for one user in one transaction: the plan
    and subscription, the invoices, and the usage summary (which the header's bars read too).
    The page's text is derived here, so nothing else reads the summary's keys."""

    account: BillingSummary
    usage: dict  # `services.usage_summary` of this month alone (its history is this month)
    invoices: list[dict[str, str]]
    at: datetime  # the moment it was priced at: the history is priced at it too

    @property
    def plan_price(self) -> str:
        return format_cents(self.account.monthly_price_cents)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.account.subscription_status or "", "")

    @property
    def grace_ends(self) -> str:
        ends = self.account.grace_ends_at
        return ends.strftime("%B %d, %Y") if ends else ""

    @property
    def is_paid(self) -> bool:
        """Pro or Team: overage so far and the next invoice are shown."""
        return get_plan(self.usage["plan"]).is_paid

    @property
    def usage_plan_name(self) -> str:
        return get_plan(self.usage["plan"]).name

    @property
    def period_label(self) -> str:
        period = self.usage["period"]
        return f"{period['start'][:10]} to {period['end'][:10]} (UTC)"

    @property
    def history(self) -> list[dict[str, str]]:
        return history_rows(self.usage)

    @property
    def has_usage(self) -> bool:
        return has_any_usage(self.usage)

    @property
    def overage_cents(self) -> int:
        return int(self.usage.get("overage_so_far_cents", 0))

    @property
    def overage_so_far(self) -> str:
        return format_cents(self.overage_cents)

    @property
    def overage_explanation(self) -> str:
        current = self.usage["history"][0] if self.usage["history"] else {}
        return current.get("overage_explanation", "")


def read_overview(session: Session, *, user_id: uuid.UUID) -> BillingOverview:
    """The page's first answer for the user: this month's numbers (the history follows,
    `read_history`)."""
    at = db_now(session).replace(microsecond=0)
    return BillingOverview(
        account=billing_service.billing_summary(session, user_id=user_id),
        usage=usage_summary(session, user_id=user_id, now=at, with_history=False),
        invoices=[invoice_row(r) for r in billing_service.list_invoices(session, user_id=user_id)],
        at=at,
    )


@dataclass(frozen=True)
class BillingHistory:
    """Up to 12 months, newest first, as the history table shows them."""

    rows: list[dict[str, str]]
    has_usage: bool


def read_history(user_id: uuid.UUID, at: datetime) -> BillingHistory:
    """Every month's bill priced at `at` (the first answer's moment, so this month's row is
    the one the page already shows), in a read transaction of its own."""
    with read_transaction() as session:
        summary = usage_summary(session, user_id=user_id, now=at)
    return BillingHistory(rows=history_rows(summary), has_usage=has_any_usage(summary))


@dataclass(frozen=True)
class NextInvoice:
    """The next invoice as the cost section words it."""

    total: str
    detail: str
    due: str


def next_invoice(preview: UpcomingInvoice, *, overage_cents: int, plan_name: str) -> NextInvoice:
    """Stripe's preview (next month's flat fee) plus this month's overage so far."""
    plan_part = format_cents(preview.total_cents - preview.metered_cents)
    return NextInvoice(
        total=format_cents(preview.estimate_cents(overage_cents)),
        detail=(f"{plan_part} for {plan_name} next month (Stripe's preview) + "
                f"{format_cents(overage_cents)} overage so far this month"),
        due=preview.next_payment_at.strftime("%B %-d, %Y") if preview.next_payment_at else "",
    )


# Blocking readers, each in a transaction of its own: handlers run them with asyncio.to_thread.

def project_rows(user_id: uuid.UUID, months: list[str]) -> list[dict[str, str]]:
    """Each month's projects as its period bill splits them (the shares add up to the
    month's overage), busiest first."""
    rows: list[dict[str, str]] = []
    with transaction() as session:
        now = db_now(session).replace(microsecond=0)
        for key in months:
            bill = period_bill(session, user_id=user_id,
                               month=date(int(key[:4]), int(key[5:7]), 1), now=now)
            for line in sorted(bill.projects, key=lambda p: -(p.compute_seconds
                                                              + p.free_compute_seconds)):
                rows.append({
                    "month": key, "name": line.name or "(deleted project)",
                    "compute": duration_text(line.compute_seconds + line.free_compute_seconds),
                    "storage": f"{number(line.storage_gb_hours)} GB-hours",
                    "overage": format_cents(line.total_cents),
                })
    return rows


def daily_rows(user_id: uuid.UUID) -> list[dict]:
    """This month's compute hours per UTC day, for the chart."""
    with transaction() as session:
        days = daily_compute(session, user_id=user_id)
    return [{"day": d.day, "date": d.strftime("%b %-d"),
             "hours": round(seconds / SECONDS_PER_HOUR, 2)} for d, seconds in days]


def invoice_preview(user_id: uuid.UUID) -> UpcomingInvoice | None:
    """Stripe's preview of the next invoice, or None (see `upcoming_invoice`)."""
    with transaction() as session:
        return upcoming_invoice(session, user_id=user_id, gateway=get_gateway())


def card_and_renewal(user_id: uuid.UUID) -> AccountDetails | None:
    """The card on file and the renewal date, or None when Stripe is down or slow (the page
    says so instead of failing)."""
    try:
        with transaction() as session:
            return account_details(session, user_id=user_id, gateway=get_gateway())
    except Exception:
        log.warning("could not load the card and renewal date", exc_info=True)
        return None
