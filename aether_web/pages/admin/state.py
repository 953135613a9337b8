"""The support console's state: the user found and what they use and pay, failed webhooks,
the scheduled jobs, the latest drift report. Admins only: every handler checks `is_admin` on
the server-side user, never a value the browser holds."""

from __future__ import annotations

import reflex as rx

from aether_web.db import transaction
from aether_web.errors import AetherError
from aether_web.jobs import status as job_status
from aether_web.services import support
from aether_web.state.auth import AuthState, login_required
from aether_web.state.flash import FlashState

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
        """The signed-in admin; SessionEnded or Forbidden otherwise."""
        user = self._user(session)
        self._remember(user)
        self.allowed = user.is_admin
        return support.require_admin(user)

    def _load_operations(self, session) -> None:
        self.failed_events = support.failed_webhook_events(session)
        self.jobs = job_status.job_rows(session)
        self.drift = support.last_drift_report(session)

    @rx.event
    @login_required
    def load(self):
        try:
            with transaction() as session:
                self._admin(session)
                self._load_operations(session)
        except AetherError:
            self._forget()
        self.loaded = True

    def _forget(self) -> None:
        self.allowed = False
        self.results, self.selected, self.failed_events, self.jobs, self.drift = [], {}, [], [], []
        self.usage_runs, self.monthly_totals, self.overage_reports = [], [], []
        self.invoices, self.user_drift = [], []
        self.invoice_checks, self.overage_items = [], []

    def _refused(self) -> bool:
        """After an error: whether it was the admin check (then the console forgets all)."""
        if not self.allowed:
            self._forget()
        return not self.allowed

    @rx.event
    def set_query(self, value: str) -> None:
        # A crafted event can send anything: keep at most a search's worth of text.
        self.query = str(value)[:320]

    @rx.event
    @login_required
    def search(self, form_data: dict):
        self.query = str(form_data.get("email", self.query))[:320]
        self.search_error = ""
        try:
            with transaction() as session:
                self._admin(session)
                self.results = support.find_users(session, query=self.query)
        except AetherError as exc:
            if self._refused():
                return None
            self.results, self.search_error = [], exc.message
            return None
        if not self.results:
            self.search_error = "No user's email contains that."
        return None

    @rx.event
    @login_required
    def open_user(self, user_id: str):
        try:
            with transaction() as session:
                self._admin(session)
                view = support.user_overview(session, user_id=user_id)
        except AetherError as exc:
            return None if self._refused() else FlashState.show("error", exc.message)
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
    @login_required
    def replay(self, event_id: str):
        try:
            with transaction() as session:
                self._admin(session)
        except AetherError:
            self._forget()
            return None
        try:
            result = support.replay_webhook_event(event_id)
        except AetherError as exc:
            return FlashState.show("error", exc.message)
        with transaction() as session:
            self._load_operations(session)
        if result["ok"]:
            return FlashState.show("success", f"{event_id} replayed: {result['status']}.")
        return FlashState.show("error", f"{event_id} failed again; the new error is in the list.")
