"""The usage half of /billing: this month's bars, the daily chart, history, overage so far
and the next invoice. Numbers first (one fast query set), then the chart and Stripe's preview
in the background so a slow Stripe never holds the page."""

from __future__ import annotations

import asyncio
from datetime import date

import reflex as rx

from aether_web.billing.plans import SECONDS_PER_HOUR, get_plan
from aether_web.billing.pricing import format_cents
from aether_web.db import db_now, transaction
from aether_web.errors import Unauthenticated
from aether_web.integrations.stripe import get_gateway
from aether_web.services.daily_usage import daily_compute
from aether_web.services.period_bill import period_bill
from aether_web.services.upcoming_invoice import UpcomingInvoice, upcoming_invoice
from aether_web.state.usage import UsageState
from aether_web.state.usage_view import duration_text, has_any_usage, history_rows, number


class BillingUsageState(UsageState):
    """What /billing shows of usage and cost."""

    period_label: str = ""
    history: list[dict[str, str]] = []
    has_usage: bool = False
    is_paid: bool = False
    overage_so_far: str = "$0.00"
    overage_explanation: str = ""
    daily: list[dict] = []
    daily_loaded: bool = False
    next_invoice_state: str = "none"  # none | loading | ready | unavailable
    next_invoice_total: str = ""
    next_invoice_date: str = ""
    next_invoice_detail: str = ""
    project_months: list[dict[str, str]] = []  # {"key", "label"}, newest first
    project_month: str = ""
    project_rows: list[dict[str, str]] = []  # the months' lines so far, each with its "month"
    projects_loaded: bool = False
    _overage_cents: int = 0
    _plan_name: str = ""

    @rx.event
    def load_usage_page(self):
        """On load of /billing: bars, history and overage now; chart and preview next."""
        try:
            with transaction() as session:
                summary = self._load_usage(session)
        except Unauthenticated:
            return None  # BillingState.load sends the visitor to log in
        plan = get_plan(summary["plan"])
        self.is_paid = plan.overage
        start, end = summary["period"]["start"][:10], summary["period"]["end"][:10]
        self.period_label = f"{start} to {end} (UTC)"
        self.history = history_rows(summary)
        self.has_usage = has_any_usage(summary)
        current = summary["history"][0] if summary["history"] else {}
        self._overage_cents = int(summary.get("overage_so_far_cents", 0))
        self.overage_so_far = format_cents(self._overage_cents)
        self._plan_name = plan.name
        self.overage_explanation = current.get("overage_explanation", "")
        self.next_invoice_state = "loading" if self.is_paid else "none"
        self.daily_loaded = False
        self.project_months = [{"key": row["key"], "label": row["month"]}
                               for row in self.history]
        if self.project_month not in {m["key"] for m in self.project_months}:
            self.project_month = self.project_months[0]["key"] if self.project_months else ""
        self.projects_loaded = False
        return BillingUsageState.load_details

    @rx.event(background=True)
    async def load_details(self):
        """The daily chart, then the next invoice from Stripe (which may take a moment).

        The queries and Stripe's answer are awaited in a worker thread, outside the state
        lock, so neither holds up other events of this page or of other users.
        """
        async with self:
            try:
                with transaction() as session:
                    user_id = self._user_id(session)
            except Unauthenticated:
                return
            is_paid = self.is_paid
            months = [self.project_month] if self.project_month else []
        days = await asyncio.to_thread(_daily_rows, user_id)
        async with self:
            self.daily = days
            self.daily_loaded = True
        lines = await asyncio.to_thread(_project_rows, user_id, months)
        async with self:
            self.project_rows = lines
            self.projects_loaded = True
        if not is_paid:
            return
        preview = await asyncio.to_thread(_preview, user_id)
        async with self:
            if preview is None:
                self.next_invoice_state = "unavailable"
                return
            self.next_invoice_total = format_cents(preview.estimate_cents(self._overage_cents))
            plan_part = format_cents(preview.total_cents - preview.metered_cents)
            self.next_invoice_detail = (
                f"{plan_part} for {self._plan_name} next month (Stripe's preview) + "
                f"{format_cents(self._overage_cents)} overage so far this month")
            self.next_invoice_date = (preview.next_payment_at.strftime("%B %-d, %Y")
                                      if preview.next_payment_at else "")
            self.next_invoice_state = "ready"


    @rx.var
    def project_rows_shown(self) -> list[dict[str, str]]:
        """The chosen month's lines."""
        return [row for row in self.project_rows if row["month"] == self.project_month]

    @rx.event
    def choose_project_month(self, key: str):
        """Show another month's projects; its bill is computed when first asked for."""
        self.project_month = key
        if not any(row["month"] == key for row in self.project_rows):
            self.projects_loaded = False
            return BillingUsageState.load_project_month
        return None

    @rx.event(background=True)
    async def load_project_month(self):
        """The chosen month's per-project lines, off the event loop and the state lock."""
        async with self:
            try:
                with transaction() as session:
                    user_id = self._user_id(session)
            except Unauthenticated:
                return
            key = self.project_month
        lines = await asyncio.to_thread(_project_rows, user_id, [key])
        async with self:
            self.project_rows = [r for r in self.project_rows if r["month"] != key] + lines
            self.projects_loaded = True


def _project_rows(user_id, months: list[str]) -> list[dict[str, str]]:
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


def _daily_rows(user_id) -> list[dict]:
    with transaction() as session:
        days = daily_compute(session, user_id=user_id)
    return [{"day": d.day, "date": d.strftime("%b %-d"),
             "hours": round(seconds / SECONDS_PER_HOUR, 2)} for d, seconds in days]


def _preview(user_id) -> UpcomingInvoice | None:
    with transaction() as session:
        return upcoming_invoice(session, user_id=user_id, gateway=get_gateway())
