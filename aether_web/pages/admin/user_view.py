"""The support console's view of one user: what they use and pay, and what Stripe has."""

from __future__ import annotations

import reflex as rx

from aether_web.components.record_table import record_table
from aether_web.pages.admin.state import AdminState


def _detail(label: str, key: str) -> rx.Component:
    return rx.data_list.item(rx.data_list.label(label),
                             rx.data_list.value(rx.cond(AdminState.selected[key] != "",
                                                        AdminState.selected[key], "—")))


def _titled_table(title: str, rows, columns: list[tuple[str, str]], *, empty: str, id_: str,
                  label: str | None = None) -> tuple[rx.Component, rx.Component]:
    """A heading and its table, labelled by the heading unless `label` says otherwise."""
    return (rx.heading(title, size="4", as_="h3"),
            record_table(rows, columns, empty=empty, id_=id_, label=label or title))


def user_view() -> rx.Component:
    """The user found: account and Stripe details, monthly totals, overage, invoices, runs and
    drift corrected."""
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(AdminState.selected["email"], size="6", as_="h2", id="admin-user"),
                rx.badge(AdminState.selected["plan_name"], variant="soft"),
                rx.spacer(),
                rx.button("Close", variant="soft", color_scheme="gray",
                          on_click=AdminState.close_user),
                align="center", width="100%",
            ),
            rx.data_list.root(
                _detail("User id", "id"), _detail("Name", "name"),
                _detail("Stripe customer", "stripe_customer_id"),
                _detail("Stripe subscription", "stripe_subscription_id"),
                _detail("Subscription status", "subscription_status"),
                _detail("Past due since", "past_due_since"),
                _detail("Grace ends", "grace_ends_at"),
                _detail("Projects", "projects"), _detail("Signed up", "created_at"),
                id="admin-user-details",
            ),
            *_titled_table("Monthly totals", AdminState.monthly_totals,
                           [("month", "Month"), ("plans", "Plans (UTC)"),
                            ("compute_hours", "Compute h"), ("included", "Included"),
                            ("counted", "Counted on paid plans"), ("overage", "Overage")],
                           empty="No usage recorded yet.", id_="admin-monthly"),
            *_titled_table("Overage reports", AdminState.overage_reports,
                           [("month", "Month"), ("meter", "Meter"), ("units", "Units"),
                            ("amount", "Amount"), ("status", "Status"), ("sent_at", "Sent"),
                            ("last_error", "Error")],
                           empty="No overage reported.", id_="admin-overage"),
            *_titled_table("Invoices", AdminState.invoices,
                           [("created", "Date"), ("number", "Number"), ("status", "Status"),
                            ("total", "Total"), ("paid", "Paid"), ("due", "Due"),
                            ("id", "Stripe id")],
                           empty="No invoices.", id_="admin-invoices"),
            *_titled_table("Invoices against our computation", AdminState.invoice_checks,
                           [("month", "Month"), ("meter", "Meter"), ("ours", "Ours"),
                            ("on_invoice", "On invoice"), ("items", "Labelled items"),
                            ("status", "Status"), ("action", "What was done"),
                            ("invoice", "Stripe id")],
                           empty="No finalized invoice compared yet.", id_="admin-invoice-checks"),
            *_titled_table("Overage billed as labelled items", AdminState.overage_items,
                           [("month", "Month"), ("meter", "Meter"), ("amount", "Amount"),
                            ("why", "Why"), ("status", "Status"), ("line", "Invoice line"),
                            ("invoice", "On invoice"), ("error", "Error")],
                           empty="None: every month's overage reached its own invoice.",
                           id_="admin-overage-items"),
            *_titled_table("VM runs (newest 50)", AdminState.usage_runs,
                           [("project", "Project"), ("started_at", "Started"),
                            ("ended_at", "Ended"), ("hours", "Hours"), ("end_reason", "Reason"),
                            ("machine_id", "Machine")],
                           empty="No VM runs.", id_="admin-runs", label="VM runs"),
            *_titled_table("Drift corrected for this user", AdminState.user_drift,
                           [("month", "Month"), ("cached_hours", "Cached h"),
                            ("actual_hours", "Actual h"), ("detected_at", "Found")],
                           empty="None.", id_="admin-user-drift"),
            spacing="3",
            width="100%",
        ),
        width="100%",
        margin_top="1.5rem",
        size="3",
    )
