"""/billing's usage half: this month's bars, overage and the next invoice, the daily chart,
history by month, usage per project with the CSV downloads, and the invoices."""

from __future__ import annotations

import reflex as rx

from aether_web.components.table import data_table
from aether_web.components.usage_meter import usage_bar
from aether_web.pages.billing.state import BillingState as S
from aether_web.state.usage import UsageState


def usage_section() -> rx.Component:
    """This month's usage: compute, storage and projects against the plan."""
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("This month's usage", size="5", as_="h2"),
                rx.spacer(),
                rx.text(S.period_label, size="2", color_scheme="gray", id="usage-period"),
                width="100%", align="baseline", wrap="wrap",
            ),
            usage_bar(UsageState.compute, "usage-compute"),
            usage_bar(UsageState.storage, "usage-storage"),
            usage_bar(UsageState.projects_bar, "usage-projects"),
            spacing="4",
            width="100%",
        ),
        width="100%",
        id="usage-section",
    )


def cost_section() -> rx.Component:
    """Paid plans: overage so far this period and the next invoice (Stripe's preview)."""
    return rx.cond(
        S.is_paid,
        rx.grid(
            rx.card(
                rx.vstack(
                    rx.text("Overage so far this month", size="2", color_scheme="gray"),
                    rx.heading(S.overage_so_far, size="6", as_="p", id="overage-so-far"),
                    rx.text(rx.cond(S.overage_explanation != "", S.overage_explanation,
                                    "Nothing over your plan yet."),
                            size="2", color_scheme="gray", id="overage-explanation"),
                    spacing="1",
                ),
            ),
            rx.card(
                rx.vstack(
                    rx.text("Next invoice (estimate)", size="2", color_scheme="gray"),
                    rx.match(
                        S.next_invoice_state,
                        ("ready", rx.vstack(
                            rx.heading(S.next_invoice_total, size="6", as_="p",
                                       id="next-invoice-total"),
                            rx.text("Due ", S.next_invoice_date, " · ", S.next_invoice_detail,
                                    size="2", color_scheme="gray", id="next-invoice-detail"),
                            spacing="1")),
                        ("unavailable", rx.text(
                            "We couldn't get a preview right now. Try again in a minute.",
                            size="2", color_scheme="gray", id="next-invoice-unavailable")),
                        rx.skeleton(rx.box(height="2.5rem", width="8rem"), loading=True),
                    ),
                    spacing="1",
                ),
            ),
            columns=rx.breakpoints(initial="1", sm="2"),
            spacing="4",
            width="100%",
            id="cost-section",
        ),
    )


def daily_chart() -> rx.Component:
    """Compute hours per day of this month."""
    return rx.card(
        rx.vstack(
            rx.heading("Compute per day", size="5", as_="h2"),
            rx.cond(
                S.daily_loaded,
                rx.cond(
                    S.has_usage,
                    rx.box(
                        rx.recharts.bar_chart(
                            rx.recharts.cartesian_grid(stroke_dasharray="3 3",
                                                       vertical=False),
                            rx.recharts.x_axis(data_key="day", interval="preserveStartEnd",
                                               min_tick_gap=8, font_size=12),
                            rx.recharts.y_axis(unit=" h", width=56, font_size=12,
                                               allow_decimals=True),
                            rx.recharts.tooltip(),
                            rx.recharts.bar(data_key="hours", name="Compute hours",
                                            fill="var(--accent-9)", is_animation_active=False),
                            data=S.daily,
                            width="100%",
                            height=220,
                        ),
                        width="100%",
                        id="daily-chart",
                        role="img",
                        aria_label="Bar chart of compute hours per day this month",
                    ),
                    _empty_usage(),
                ),
                rx.skeleton(rx.box(height="220px", width="100%"), loading=True),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _empty_usage() -> rx.Component:
    return rx.vstack(
        rx.icon("chart-column", size=32, aria_hidden="true"),
        rx.text("Start building to see usage", weight="bold"),
        rx.text("Start a project's VM and its hours show up here, day by day.", size="2",
                color_scheme="gray"),
        align="center",
        padding="2rem",
        width="100%",
        id="usage-empty",
    )


def _history_row(row: dict) -> rx.Component:
    return rx.el.tr(
        rx.el.th(row["month"], scope="row", style={"fontWeight": 500}),
        rx.el.td(row["hours"], class_name="history-hours"),
        rx.el.td(row["storage"]),
        rx.el.td(
            rx.el.span(row["cost"], class_name="history-cost"),
            rx.el.span(" "),
            rx.el.span(row["explanation"], class_name="history-explanation",
                       style={"color": "var(--gray-11)", "fontSize": "var(--font-size-1)"}),
            rx.el.div(row["status"], class_name="history-status",
                      style={"color": "var(--gray-11)", "fontSize": "var(--font-size-1)"}),
            rx.el.details(
                rx.el.summary("How this month adds up"),
                rx.el.div(row["details"], class_name="history-details",
                          style={"whiteSpace": "pre-line", "fontSize": "var(--font-size-1)"}),
            ),
        ),
        class_name="history-row",
        data_month=row["key"],
    )


def history_section() -> rx.Component:
    """Usage by month, newest first, with what any overage cost and why."""
    return rx.vstack(
        rx.heading("Usage history", size="5", as_="h2"),
        rx.cond(
            S.has_usage,
            data_table(["Month", "Compute", "Storage", "Overage"],
                       rx.foreach(S.history, _history_row), table_id="usage-history",
                       label="Usage history by month"),
            rx.text("No usage yet. Start building to see usage.", color_scheme="gray",
                    id="history-empty"),
        ),
        width="100%",
        spacing="3",
    )


def _project_line(row: dict) -> rx.Component:
    return rx.el.tr(
        rx.el.th(rx.el.span(row["name"], class_name="ellipsis", title=row["name"],
                            style={"maxWidth": "18rem"}),
                 scope="row", style={"fontWeight": 500}),
        rx.el.td(row["compute"], class_name="project-line-compute"),
        rx.el.td(row["storage"]),
        rx.el.td(row["overage"], class_name="project-line-overage"),
        class_name="project-line",
    )


def _csv_link(label: str, href, link_id: str) -> rx.Component:
    return rx.button(rx.el.a(rx.icon("download", size=14), label, href=href, download=True,
                             id=link_id),
                     variant="soft", color_scheme="gray", size="2", as_child=True)


def projects_section() -> rx.Component:
    """Usage per project for this month or a past one (the period bill's split, so the
    overage shares add up to the month's overage), and the CSV downloads."""
    return rx.vstack(
        rx.hstack(
            rx.heading("Usage per project", size="5", as_="h2"),
            rx.spacer(),
            rx.el.label("Month", html_for="project-month", class_name="sr-only"),
            rx.el.select(
                rx.foreach(S.project_months,
                           lambda m: rx.el.option(m["label"], value=m["key"])),
                id="project-month", value=S.project_month,
                on_change=S.choose_project_month,
                style={"padding": "0.35rem 0.5rem", "borderRadius": "var(--radius-2)",
                       "border": "1px solid var(--gray-a7)", "background": "var(--color-panel-solid)",
                       "color": "var(--gray-12)", "fontSize": "var(--font-size-2)"},
            ),
            width="100%", align="center", wrap="wrap",
        ),
        rx.cond(
            S.projects_loaded,
            rx.cond(S.project_rows_shown.length() > 0,
                    data_table(["Project", "Compute", "Storage", "Overage share"],
                               rx.foreach(S.project_rows_shown, _project_line),
                               table_id="project-usage-table", label="Usage per project"),
                    rx.text("No project used anything in that month.", color_scheme="gray",
                            id="project-usage-empty")),
            rx.skeleton(rx.box(height="4rem", width="100%"), loading=True),
        ),
        rx.hstack(
            _csv_link("Runs of this month (CSV)",
                      "/api/billing/usage.csv?data=runs&month=" + S.project_month, "csv-runs"),
            _csv_link("Monthly totals (CSV)", "/api/billing/usage.csv?data=months",
                      "csv-months"),
            spacing="3", wrap="wrap",
        ),
        width="100%", spacing="3", id="project-usage-section",
    )


def invoice_table_row(row: dict) -> rx.Component:
    return rx.el.tr(
        rx.el.td(row["date"]),
        rx.el.td(row["number"]),
        rx.el.td(row["total"]),
        rx.el.td(row["status"]),
        rx.el.td(rx.cond(row["url"] != "",
                         rx.link("View or download PDF", href=row["url"], is_external=True,
                                 aria_label="View or download invoice " + row["number"]
                                 + " (PDF on Stripe's page)"))),
    )


def invoices_table() -> rx.Component:
    return rx.vstack(
        rx.heading("Invoices", size="5", as_="h2"),
        rx.cond(
            S.invoices.length() > 0,
            data_table(["Date", "Number", "Amount", "Status", "Invoice"],
                       rx.foreach(S.invoices, invoice_table_row),
                       table_id="invoices", label="Invoices"),
            rx.text("No invoices yet. They appear here after your first payment.",
                    color_scheme="gray", id="no-invoices"),
        ),
        width="100%", spacing="3", id="invoices-section",
    )
