"""The signed-in user's usage, plan alerts and the welcome, shared by every app page.

Loaded when the header mounts; pages that change usage (create a project, start a VM) return
`UsageState.refresh` from their own handlers.
"""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from aether_web.db import transaction
from aether_web.services import billing as billing_service
from aether_web.services import onboarding
from aether_web.services.billing import BillingSummary
from aether_web.services.usage_summary import usage_summary
from aether_web.state.auth import AuthState, SessionEnded, login_required
from aether_web.state.portal import PortalMixin
from aether_web.state.usage_view import usage_alert, usage_bars

EMPTY_BAR = {"label": "", "used": "", "limit": "", "text": "", "percent": "0",
             "percent_text": "", "width": "0", "level": "ok", "color": "grass"}


class UsageState(PortalMixin, AuthState):
    """This month's usage as bars, the most pressing alert, past-due and the welcome; the
    past-due banner's way to the Customer Portal (`open_portal`, refusals in the
    app-wide notice)."""

    usage_loaded: bool = False
    compute: dict[str, str] = EMPTY_BAR
    storage: dict[str, str] = EMPTY_BAR
    projects_bar: dict[str, str] = EMPTY_BAR
    alert_level: str = "ok"
    alert_message: str = ""
    alert_key: str = ""  # month, level and resource: a new key shows the banner again
    # The alert the user closed, kept in the browser: closed once, it stays closed until the
    # alert changes (a higher level, another resource, a new month).
    dismissed_alert: str = rx.LocalStorage("", name="aether_dismissed_alert")
    account_past_due: bool = False
    account_grace_ends: str = ""
    welcome_open: bool = False

    def _load_usage(self, session: Session) -> dict:
        """Fill the bars, the alert and past-due from this month's usage (no history: the
        header needs none); returns that summary."""
        user = self._user(session)
        self._remember(user)
        summary = usage_summary(session, user_id=user.id, with_history=False)
        self._show_usage(summary, billing_service.billing_summary(session, user_id=user.id))
        return summary

    def _show_usage(self, summary: dict, account: BillingSummary) -> None:
        """Fill the bars, the alert and past-due from what a page already read for the user
        (`usage_summary`, `billing_summary`)."""
        bars = usage_bars(summary)
        self.compute, self.storage, self.projects_bar = (
            bars["compute"], bars["storage"], bars["projects"])
        alert = usage_alert(summary, bars)
        self.alert_level, self.alert_message = alert["level"], alert["message"]
        self.alert_key = (f"{summary['period']['start'][:7]}:{alert['level']}:"
                          f"{alert.get('resource', '')}")
        self.account_past_due = account.past_due
        self.account_grace_ends = (account.grace_ends_at.strftime("%B %-d")
                                   if account.grace_ends_at else "")
        self.usage_loaded = True

    @rx.event
    def refresh(self):
        """Reload the usage (header bar, banners); quietly nothing when signed out (the
        header is not the page: the page's own handlers send the visitor to log in)."""
        try:
            with transaction() as session:
                self._load_usage(session)
        except SessionEnded:
            self.usage_loaded = False

    @rx.event
    def dismiss_alert(self) -> None:
        """Close the usage banner; it stays closed until the alert changes."""
        self.dismissed_alert = self.alert_key

    @rx.event
    def ensure_loaded(self):
        """When the header mounts: load the usage unless the page's own first answer already
        carried it (signed-in pages call `_load_usage` in their on_load's transaction)."""
        if not self.usage_loaded:
            return UsageState.refresh
        return None

    @rx.event
    def check_welcome(self):
        """On the dashboard: open the welcome on a user's first visit (none when signed out;
        the dashboard's load sends the visitor to log in)."""
        try:
            with transaction() as session:
                self.welcome_open = onboarding.needs_welcome(self._user(session))
        except SessionEnded:
            self.welcome_open = False

    @rx.event
    @login_required
    def dismiss_welcome(self):
        """Close the welcome and remember it, so it never shows again."""
        self.welcome_open = False
        with transaction() as session:
            onboarding.mark_welcomed(session, user_id=self._user_id(session))

    @rx.event
    def welcome_open_change(self, is_open: bool):
        if not is_open:
            return UsageState.dismiss_welcome
        return None
