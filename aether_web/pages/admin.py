"""The support console (/admin): find a user and see what they use and pay; failed webhooks
with Replay; the scheduled jobs; the latest drift report. Admins only: every handler checks
`is_admin` on the server-side user, never a value the browser holds."""

from __future__ import annotations

import reflex as rx

from aether_web import routes
from aether_web.components.layout import app_page
from aether_web.db import transaction
from aether_web.errors import AetherError, Unauthenticated
from aether_web.jobs import status as job_status
from aether_web.services import support
from aether_web.state.auth import AuthState

Rows = list[dict[str, str]]


class AdminState(AuthState):
    """What the console shows. Loaded only after the admin check of each event."""

    allowed: bool = False
    loaded: bool = False
    query: str = ""
    search_error: str = ""
    results: Rows = []
    selected: dict[str, str] = {}
    usage_runs: Rows = []
    monthly_totals: Rows = []
    overage_reports: Rows = []
    invoices: Rows = []
    invoice_checks: Rows = []
    overage_items: Rows = []
    user_drift: Rows = []
    failed_events: Rows = []
    jobs: Rows = []
    drift: Rows = []

    def _admin(self, session):
        """The signed-in admin; Unauthenticated or Forbidden otherwise."""
        user = self._user(session)
        self._remember(user)
        self.allowed = user.is_admin
        return support.require_admin(user)

    def _load_operations(self, session) -> None:
        self.failed_events = support.failed_webhook_events(session)
        self.jobs = job_status.job_rows(session)
        self.drift = support.last_drift_report(session)

    @rx.event
    def load(self):
        try:
            with transaction() as session:
                self._admin(session)
                self._load_operations(session)
        except Unauthenticated:
            return self._login_redirect()
        except AetherError:
            self._forget()
        self.loaded = True
        return None

    def _forget(self) -> None:
        self.allowed = False
        self.results, self.selected, self.failed_events, self.jobs, self.drift = [], {}, [], [], []
        self.usage_runs, self.monthly_totals, self.overage_reports = [], [], []
        self.invoices, self.user_drift = [], []
        self.invoice_checks, self.overage_items = [], []

    @rx.event
    def set_query(self, value: str) -> None:
        # A crafted event can send anything: keep at most a search's worth of text.
        self.query = str(value)[:320]

    @rx.event
    def search(self, form_data: dict):
        self.query = str(form_data.get("email", self.query))[:320]
        self.search_error = ""
        try:
            with transaction() as session:
                self._admin(session)
                self.results = support.find_users(session, query=self.query)
        except Unauthenticated:
            return self._login_redirect()
        except AetherError as exc:
            if not self.allowed:
                self._forget()
                return None
            self.results, self.search_error = [], exc.message
            return None
        if not self.results:
            self.search_error = "No user's email contains that."
        return None

    @rx.event
    def open_user(self, user_id: str):
        try:
            with transaction() as session:
                self._admin(session)
                view = support.user_overview(session, user_id=user_id)
        except Unauthenticated:
            return self._login_redirect()
        except AetherError as exc:
            if not self.allowed:
                self._forget()
                return None
            return rx.toast.error(exc.message)
        self.selected = view["user"]
        self.usage_runs = view["usage_runs"]
        self.monthly_totals = view["monthly_totals"]
        self.overage_reports = view["overage_reports"]
        self.invoices = view["invoices"]
        self.invoice_checks = view["invoice_checks"]
        self.overage_items = view["overage_items"]
        self.user_drift = view["drift"]
        return None

    @rx.event
    def close_user(self) -> None:
        self.selected = {}

    @rx.event
    def replay(self, event_id: str):
        try:
            with transaction() as session:
                self._admin(session)
        except Unauthenticated:
            return self._login_redirect()
        except AetherError:
            self._forget()
            return None
        try:
            result = support.replay_webhook_event(event_id)
        except AetherError as exc:
            return rx.toast.error(exc.message)
        with transaction() as session:
            self._load_operations(session)
        if result["ok"]:
            return rx.toast.success(f"{event_id} replayed: {result['status']}.")
        return rx.toast.error(f"{event_id} failed again; the new error is in the list.")


def data_table(rows, columns: list[tuple[str, str]], *, empty: str, id_: str,
               action=None) -> rx.Component:
    """A table of string rows; `columns` are (key, heading); `action(row)` adds a last cell."""
    headings = [rx.table.column_header_cell(title) for _, title in columns]
    if action is not None:
        headings.append(rx.table.column_header_cell(rx.el.span("Action", class_name="sr-only")))

    def row(item) -> rx.Component:
        cells = [rx.table.cell(rx.text(item[key], size="2")) for key, _ in columns]
        if action is not None:
            cells.append(rx.table.cell(action(item)))
        return rx.table.row(*cells)

    return rx.cond(
        rows.length() > 0,
        rx.box(
            rx.table.root(rx.table.header(rx.table.row(*headings)),
                          rx.table.body(rx.foreach(rows, row)),
                          variant="surface", size="1", id=id_),
            overflow_x="auto",
            width="100%",
        ),
        rx.text(empty, color_scheme="gray", size="2", id=f"{id_}-empty"),
    )


def _section(title: str, *children: rx.Component) -> rx.Component:
    return rx.el.section(
        rx.vstack(rx.heading(title, size="5", as_="h2"), *children, spacing="3", width="100%"),
        style={"marginTop": "2rem", "width": "100%"},
    )


def _detail(label: str, key: str) -> rx.Component:
    return rx.data_list.item(rx.data_list.label(label),
                             rx.data_list.value(rx.cond(AdminState.selected[key] != "",
                                                        AdminState.selected[key], "—")))


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
        data_table(AdminState.results,
                   [("email", "Email"), ("name", "Name"), ("plan", "Plan"),
                    ("created_at", "Signed up")],
                   empty="", id_="admin-results",
                   action=lambda u: rx.button("Open", size="1", variant="soft",
                                              on_click=AdminState.open_user(u["id"]))),
        width="100%",
    )


def _user_view() -> rx.Component:
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
            rx.heading("Monthly totals", size="4", as_="h3"),
            data_table(AdminState.monthly_totals,
                       [("month", "Month"), ("plans", "Plans (UTC)"),
                        ("compute_hours", "Compute h"), ("included", "Included"),
                        ("counted", "Counted on paid plans"), ("overage", "Overage")],
                       empty="No usage recorded yet.", id_="admin-monthly"),
            rx.heading("Overage reports", size="4", as_="h3"),
            data_table(AdminState.overage_reports,
                       [("month", "Month"), ("meter", "Meter"), ("units", "Units"),
                        ("amount", "Amount"), ("status", "Status"), ("sent_at", "Sent"),
                        ("last_error", "Error")],
                       empty="No overage reported.", id_="admin-overage"),
            rx.heading("Invoices", size="4", as_="h3"),
            data_table(AdminState.invoices,
                       [("created", "Date"), ("number", "Number"), ("status", "Status"),
                        ("total", "Total"), ("paid", "Paid"), ("due", "Due"), ("id", "Stripe id")],
                       empty="No invoices.", id_="admin-invoices"),
            rx.heading("Invoices against our computation", size="4", as_="h3"),
            data_table(AdminState.invoice_checks,
                       [("month", "Month"), ("meter", "Meter"), ("ours", "Ours"),
                        ("on_invoice", "On invoice"), ("items", "Labelled items"),
                        ("status", "Status"), ("action", "What was done"),
                        ("invoice", "Stripe id")],
                       empty="No finalized invoice compared yet.", id_="admin-invoice-checks"),
            rx.heading("Overage billed as labelled items", size="4", as_="h3"),
            data_table(AdminState.overage_items,
                       [("month", "Month"), ("meter", "Meter"), ("amount", "Amount"),
                        ("why", "Why"), ("status", "Status"), ("line", "Invoice line"),
                        ("invoice", "On invoice"), ("error", "Error")],
                       empty="None: every month's overage reached its own invoice.",
                       id_="admin-overage-items"),
            rx.heading("VM runs (newest 50)", size="4", as_="h3"),
            data_table(AdminState.usage_runs,
                       [("project", "Project"), ("started_at", "Started"),
                        ("ended_at", "Ended"), ("hours", "Hours"), ("end_reason", "Reason"),
                        ("machine_id", "Machine")],
                       empty="No VM runs.", id_="admin-runs"),
            rx.heading("Drift corrected for this user", size="4", as_="h3"),
            data_table(AdminState.user_drift,
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


def _console() -> rx.Component:
    return rx.vstack(
        rx.heading("Support console", size="8", as_="h1"),
        _section("Find a user", _search(),
                 rx.cond(AdminState.selected.contains("id"), _user_view())),
        _section(
            "Failed webhook events",
            data_table(AdminState.failed_events,
                       [("received_at", "Received"), ("type", "Type"), ("id", "Event"),
                        ("attempts", "Attempts"), ("error", "Last error")],
                       empty="No failed events.", id_="admin-failed-events",
                       action=lambda e: rx.button("Replay", size="1",
                                                  on_click=AdminState.replay(e["id"]))),
        ),
        _section(
            "Scheduled jobs",
            data_table(AdminState.jobs,
                       [("name", "Job"), ("last_run_at", "Last run"),
                        ("last_status", "Outcome"), ("last_detail", "Detail"),
                        ("last_success_at", "Last success"), ("overdue", "Overdue")],
                       empty="No jobs registered.", id_="admin-jobs"),
        ),
        _section(
            "Latest drift report",
            rx.text("Monthly totals the daily rebuild found different from the VM runs, and "
                    "corrected.", size="2", color_scheme="gray"),
            data_table(AdminState.drift,
                       [("detected_at", "Found"), ("user_id", "User"), ("month", "Month"),
                        ("cached_hours", "Cached h"), ("actual_hours", "Actual h"),
                        ("difference_hours", "Difference h")],
                       empty="No drift found.", id_="admin-drift"),
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
