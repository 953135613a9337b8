"""The support console (/admin): find a user and see what they use and pay; failed webhooks
with Replay; the scheduled jobs; the latest drift report. Admins only (checked by every
handler of `state.AdminState`); one user's view is in `user_view`."""

from __future__ import annotations

import reflex as rx

from aether_web import routes
from aether_web.components.layout import app_page
from aether_web.components.record_table import record_table
from aether_web.pages.admin.state import AdminState
from aether_web.pages.admin.user_view import user_view


def _section(title: str, *children: rx.Component) -> rx.Component:
    return rx.el.section(
        rx.vstack(rx.heading(title, size="5", as_="h2"), *children, spacing="3", width="100%"),
        style={"marginTop": "2rem", "width": "100%"},
    )


def _search() -> rx.Component:
    return rx.vstack(
        rx.el.form(
            rx.hstack(
                rx.el.label("Email", html_for="admin-email", class_name="sr-only"),
                rx.input(id="admin-email", name="email", placeholder="Find a user by email",
                         value=AdminState.query, on_change=AdminState.set_query, size="3",
                         flex="1"),
                rx.button("Find", type="submit", size="3", id="admin-find"),
                width="100%",
                max_width="36rem",
            ),
            on_submit=AdminState.search,
            reset_on_submit=False,
        ),
        rx.cond(AdminState.search_error != "",
                rx.text(AdminState.search_error, color_scheme="red", size="2", role="alert")),
        record_table(AdminState.results,
                   [("email", "Email"), ("name", "Name"), ("plan", "Plan"),
                    ("created_at", "Signed up")],
                   empty="", id_="admin-results",
                   label="Users found",
                   action=lambda u: rx.button("Open", size="1", variant="soft",
                                              on_click=AdminState.open_user(u["id"]))),
        width="100%",
    )


def _console() -> rx.Component:
    return rx.vstack(
        rx.heading("Support console", size="8", as_="h1"),
        _section("Find a user", _search(),
                 rx.cond(AdminState.selected.contains("id"), user_view())),
        _section(
            "Failed webhook events",
            record_table(AdminState.failed_events,
                       [("received_at", "Received"), ("type", "Type"), ("id", "Event"),
                        ("attempts", "Attempts"), ("error", "Last error")],
                       empty="No failed events.", id_="admin-failed-events",
                       label="Failed Stripe events",
                       action=lambda e: rx.button("Replay", size="1",
                                                  on_click=AdminState.replay(e["id"]))),
        ),
        _section(
            "Scheduled jobs",
            record_table(AdminState.jobs,
                       [("name", "Job"), ("last_run_at", "Last run"),
                        ("last_status", "Outcome"), ("last_detail", "Detail"),
                        ("last_success_at", "Last success"), ("overdue", "Overdue")],
                       empty="No jobs registered.", id_="admin-jobs",
                       label="Scheduled jobs"),
        ),
        _section(
            "Latest drift report",
            rx.text("Monthly totals the daily rebuild found different from the VM runs, and "
                    "corrected.", size="2", color_scheme="gray"),
            record_table(AdminState.drift,
                       [("detected_at", "Found"), ("user_id", "User"), ("month", "Month"),
                        ("cached_hours", "Cached h"), ("actual_hours", "Actual h"),
                        ("difference_hours", "Difference h")],
                       empty="No drift found.", id_="admin-drift",
                       label="Latest drift report"),
        ),
        width="100%",
        spacing="2",
    )


def _refused() -> rx.Component:
    return rx.vstack(
        rx.heading("Support console", size="8", as_="h1"),
        rx.callout("This page is for aether's support staff only.", icon="lock",
                   color_scheme="red", id="admin-forbidden", role="alert"),
        rx.link("Back to your projects", href=routes.DASHBOARD),
        spacing="4",
    )


@rx.page(route=routes.ADMIN, title="Support console · aether", on_load=AdminState.load)
def admin() -> rx.Component:
    return app_page(
        rx.cond(
            AdminState.loaded,
            rx.cond(AdminState.allowed, _console(), _refused()),
            rx.spinner(size="3"),
        )
    )
