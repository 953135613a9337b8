"""/billing: the plan, this month's usage and cost, history, upgrades through Checkout, the
Portal, invoices.

Built from small pieces (`plan_card`, `plans_dialog`, `past_due_banner`, `checkout_notice`,
`invoices_table`, and the usage sections of `components.billing_usage`, whose state is
`BillingUsageState`). The usage numbers load first; the chart and Stripe's invoice preview
follow in the background.
"""

from __future__ import annotations

import asyncio

import reflex as rx

from aether_web import routes
from aether_web.billing.plans import Plan
from aether_web.billing.pricing import format_cents
from aether_web.components.app_banners import app_banners
from aether_web.components.billing_usage import (
    cost_section,
    daily_chart,
    data_table,
    history_section,
    plans_dialog,
    projects_section,
    usage_section,
)
from aether_web.components.layout import app_page, skeleton_rows
from aether_web.components.verify_banner import resend_button
from aether_web.db import transaction
from aether_web.errors import AetherError, Unauthenticated
from aether_web.integrations.stripe import get_gateway
from aether_web.observability import log
from aether_web.services import billing as billing_service
from aether_web.services import subscription_lifecycle
from aether_web.services.billing_account import account_details
from aether_web.state.auth import AuthState
from aether_web.state.billing_usage import BillingUsageState
from aether_web.state.usage import portal_url

# After Checkout, the webhook usually lands within a second; wait this long at most.
CONFIRM_POLLS = 20
CONFIRM_INTERVAL_SECONDS = 0.5

FORGET_QUERY = "window.history.replaceState(window.history.state, '', window.location.pathname)"

STATUS_LABELS = {
    "active": "Active", "trialing": "Trial", "past_due": "Payment failed",
    "canceled": "Canceled", "incomplete": "Waiting for payment", "unpaid": "Unpaid",
}


def invoice_row(row) -> dict[str, str]:
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


class BillingState(AuthState):
    """The signed-in user's billing page."""

    loaded: bool = False
    plan_name: str = "Free"
    plan_price: str = "$0.00"
    status_label: str = ""
    has_subscription: bool = False
    has_billing_account: bool = False
    past_due: bool = False
    grace_ends: str = ""
    invoices: list[dict[str, str]] = []
    notice: str = ""
    notice_kind: str = "info"  # info | success | warning
    confirming: bool = False
    chooser_open: bool = False
    checkout_plan: str = ""  # the plan whose Checkout is being opened
    # The plan chosen on /pricing (`?start=`): Checkout waits for a click on this page, so a
    # link from another site can't start it.
    start_plan: str = ""
    start_plan_name: str = ""
    error: str = ""
    error_code: str = ""
    busy: bool = False
    card_text: str = ""
    renewal_text: str = ""
    account_state: str = "none"  # none | loading | ready | unavailable

    def _reload(self, session) -> None:
        user = self._user(session)
        self._remember(user)
        summary = billing_service.billing_summary(session, user_id=user.id)
        self.plan_name = summary.plan_name
        self.plan_price = format_cents(summary.monthly_price_cents)
        self.status_label = STATUS_LABELS.get(summary.subscription_status or "", "")
        self.has_subscription = summary.has_subscription
        self.has_billing_account = summary.has_billing_account
        self.past_due = summary.past_due
        self.grace_ends = (summary.grace_ends_at.strftime("%B %d, %Y")
                           if summary.grace_ends_at else "")
        self.invoices = [invoice_row(r) for r in
                         billing_service.list_invoices(session, user_id=user.id)]
        self.loaded = True

    @rx.event
    def load(self):
        """On load: the summary, and what to say after returning from Checkout."""
        params = self.router.url.query_parameters
        self.error = ""
        self.notice = ""
        try:
            with transaction() as session:
                self._reload(session)
        except Unauthenticated:
            return self._login_redirect()
        outcome = params.get("checkout", "")
        events: list = []
        if outcome:
            # Said once: the address loses ?checkout=, so a reload doesn't say it again.
            events.append(rx.call_script(FORGET_QUERY))
        if outcome == "canceled":
            self.notice_kind = "warning"
            self.notice = (f"Checkout was canceled; you're still on {self.plan_name}. "
                           "Nothing was charged.")
        elif outcome == "success":
            if self.plan != "free":
                self._say_upgraded()
            else:
                self.notice_kind, self.notice = "info", "Payment received. Confirming your plan…"
                self.confirming = True
                return [*events, BillingState.confirm_upgrade]
        self.checkout_plan = ""
        self.chooser_open = params.get("upgrade") == "1"
        start = params.get("start", "")
        # The plan chosen on /pricing waits for a click (start_checkout_prompt).
        self.start_plan = start if start in ("pro", "team") and not self.has_subscription else ""
        self.start_plan_name = self.start_plan.title()
        self.account_state = "loading" if self.has_billing_account else "none"
        if self.has_billing_account:
            events.append(BillingState.load_account)
        return events or None

    @rx.event
    def dismiss_notice(self) -> None:
        self.notice = ""

    @rx.event(background=True)
    async def load_account(self):
        """The card on file and the renewal date, from Stripe, after the page's numbers."""
        async with self:
            try:
                with transaction() as session:
                    user_id = self._user_id(session)
            except Unauthenticated:
                return
        details = await asyncio.to_thread(_account_details, user_id)
        async with self:
            if details is None:
                self.account_state = "unavailable"
                return
            self.card_text, self.renewal_text = details.card, details.renewal
            self.account_state = "ready"

    def _say_upgraded(self) -> None:
        self.notice_kind = "success"
        self.notice = f"You're on {self.plan_name} now. Thanks for upgrading!"
        self.confirming = False

    @rx.event(background=True)
    async def confirm_upgrade(self):
        """Reload until Stripe's webhook has moved the user off Free (or give up politely)."""
        for _ in range(CONFIRM_POLLS):
            await asyncio.sleep(CONFIRM_INTERVAL_SECONDS)
            async with self:
                try:
                    with transaction() as session:
                        self._reload(session)
                except Unauthenticated:
                    return
                if self.plan != "free":
                    self._say_upgraded()
                    return BillingUsageState.load_usage_page
        async with self:
            self.confirming = False
            self.notice_kind = "info"
            self.notice = ("Your payment is being confirmed. Your plan will update in a "
                           "minute; refresh this page to see it.")

    @rx.event
    def open_chooser(self) -> None:
        self.chooser_open = True

    @rx.event
    def close_chooser(self) -> None:
        self.chooser_open = False

    @rx.event
    def chooser_open_change(self, is_open: bool) -> None:
        self.chooser_open = is_open

    @rx.event(background=True)
    async def upgrade(self, plan_key: str):
        """Start Checkout for Pro or Team (the same service as the API).

        Stripe is called on a worker thread, outside the state lock: a slow Stripe holds up
        neither this page's other events nor anyone else's, and its timeout is seconds.
        """
        async with self:
            self.error = ""
            self.error_code = ""
            self.checkout_plan = plan_key  # the button shows progress while Stripe answers
            self.start_plan = ""
            try:
                with transaction() as session:
                    user_id = self._user_id(session)
            except Unauthenticated:
                self.checkout_plan = ""
                return self._login_redirect()
        try:
            url = await asyncio.to_thread(_checkout_url, user_id, plan_key)
        except AetherError as exc:
            async with self:
                self.checkout_plan = ""
                self.chooser_open = False
                self.error = exc.message
                self.error_code = exc.code
            return None
        return rx.redirect(url)  # another host: the browser leaves the app in this tab

    @rx.event(background=True)
    async def switch_plan(self, plan_key: str):
        """Pro <-> Team on the current subscription (the Portal can't switch a subscription
        with metered prices); Stripe prorates the flat fee. Stripe is called on a worker
        thread, outside the state lock and any transaction."""
        async with self:
            self.error = ""
            self.checkout_plan = plan_key
            try:
                with transaction() as session:
                    user_id = self._user_id(session)
            except Unauthenticated:
                self.checkout_plan = ""
                return self._login_redirect()
        try:
            await asyncio.to_thread(subscription_lifecycle.switch_plan, user_id=user_id,
                                    plan_key=plan_key)
        except AetherError as exc:
            async with self:
                self.error = exc.message
        else:
            async with self:
                try:
                    with transaction() as session:
                        self._reload(session)
                except Unauthenticated:  # signed out meanwhile
                    self.checkout_plan = ""
                    return self._login_redirect()
                self.notice_kind = "success"
                self.notice = (f"You're on {self.plan_name} now. The flat fee is prorated on "
                               "your next invoice.")
        async with self:
            self.checkout_plan = ""
            self.chooser_open = False
        return BillingUsageState.load_usage_page

    @rx.event(background=True)
    async def manage(self):
        """Open the Customer Portal (card, invoices, cancellation), Stripe called off the
        event loop as in `upgrade`."""
        async with self:
            self.error = ""
            try:
                with transaction() as session:
                    user_id = self._user_id(session)
            except Unauthenticated:
                return self._login_redirect()
        try:
            url = await asyncio.to_thread(portal_url, user_id)
        except AetherError as exc:
            async with self:
                self.error = exc.message
            return None
        return rx.redirect(url)  # another host: the browser leaves the app in this tab


def _checkout_url(user_id, plan_key: str) -> str:
    return billing_service.checkout_url(user_id=user_id, plan_key=plan_key)


def _account_details(user_id):
    try:
        with transaction() as session:
            return account_details(session, user_id=user_id, gateway=get_gateway())
    except Exception:  # Stripe down or slow: the page says so instead of failing
        log.warning("could not load the card and renewal date", exc_info=True)
        return None


def account_line() -> rx.Component:
    """Card on file and renewal date, with the way to the Portal."""
    return rx.match(
        BillingState.account_state,
        ("ready", rx.hstack(
            rx.cond(BillingState.card_text != "",
                    rx.text(rx.icon("credit-card", size=14, aria_hidden="true"), " ",
                            BillingState.card_text, size="2", id="card-on-file"),
                    rx.text("No card on file", size="2", color_scheme="gray",
                            id="card-on-file")),
            rx.cond(BillingState.renewal_text != "",
                    rx.text(BillingState.renewal_text, size="2", color_scheme="gray",
                            id="renewal-date")),
            rx.button("Change card or plan in the portal", variant="ghost", size="1",
                      on_click=BillingState.manage, id="card-portal"),
            spacing="4", wrap="wrap", align="center",
        )),
        ("unavailable", rx.text("We couldn't load your card details right now.", size="2",
                                color_scheme="gray", id="card-unavailable")),
        ("loading", rx.skeleton(rx.box(height="1.25rem", width="16rem"), loading=True)),
        rx.fragment(),
    )


def checkout_notice() -> rx.Component:
    return rx.cond(
        BillingState.notice != "",
        rx.callout(
            rx.hstack(
                rx.text(BillingState.notice, id="billing-notice-text"),
                rx.spacer(),
                rx.icon_button(rx.icon("x", size=14), size="1", variant="ghost",
                               color_scheme="gray", high_contrast=True,
                               aria_label="Dismiss this notice", id="billing-notice-dismiss",
                               on_click=BillingState.dismiss_notice),
                align="center", width="100%",
            ),
            icon=rx.cond(BillingState.notice_kind == "success", "circle_check", "info"),
            color_scheme=rx.match(BillingState.notice_kind, ("success", "green"),
                                  ("warning", "amber"), "blue"),
            role="status",
            id="billing-notice",
        ),
    )


def start_checkout_prompt() -> rx.Component:
    """The plan chosen before sign-up, one click away from its Checkout."""
    return rx.cond(
        BillingState.start_plan != "",
        rx.callout(
            rx.hstack(
                rx.text("You chose ", BillingState.start_plan_name, " before signing up."),
                rx.button("Continue to Checkout for ", BillingState.start_plan_name,
                          on_click=BillingState.upgrade(BillingState.start_plan),
                          loading=BillingState.checkout_plan != "", id="start-checkout"),
                align="center", spacing="3", wrap="wrap",
            ),
            icon="info", color_scheme="blue", id="start-checkout-prompt"),
    )


def error_notice() -> rx.Component:
    return rx.cond(
        BillingState.error != "",
        rx.callout(
            rx.hstack(
                rx.text(BillingState.error),
                rx.cond(BillingState.error_code == "email_unverified",
                        resend_button(id="billing-resend-verification")),
                align="center", spacing="3", wrap="wrap",
            ),
            icon="circle_alert", color_scheme="red", role="alert", id="billing-error"))


def past_due_banner() -> rx.Component:
    return rx.cond(
        BillingState.past_due,
        rx.callout(
            rx.hstack(
                rx.text("We couldn't charge your card. You keep ", BillingState.plan_name,
                        " until ", BillingState.grace_ends,
                        "; after that your account moves to Free (nothing is deleted)."),
                rx.button("Update payment method", on_click=BillingState.manage,
                          color_scheme="red", high_contrast=True,
                          id="update-payment-method"),
                align="center", spacing="4", wrap="wrap",
            ),
            icon="triangle_alert", color_scheme="red", role="alert", id="past-due-banner",
        ),
    )


def plan_card() -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.vstack(
                rx.text("Current plan", size="2", color_scheme="gray"),
                rx.hstack(
                    rx.heading(BillingState.plan_name, size="6", as_="h2", id="current-plan"),
                    rx.cond(BillingState.status_label != "",
                            rx.badge(BillingState.status_label, id="subscription-status")),
                    align="center", spacing="3",
                ),
                rx.text(BillingState.plan_price, " / month", size="2", color_scheme="gray"),
                account_line(),
                spacing="1",
            ),
            rx.spacer(),
            rx.button(rx.el.a("View invoices", href="#invoices-section", id="view-invoices"),
                      variant="ghost", as_child=True),
            rx.cond(BillingState.has_subscription,
                    rx.hstack(
                        rx.button("Compare plans", on_click=BillingState.open_chooser,
                                  variant="soft", color_scheme="gray", id="compare-plans"),
                        rx.button("Manage subscription", on_click=BillingState.manage,
                                  variant="soft", id="manage-subscription"),
                        spacing="3"),
                    rx.button("Upgrade", on_click=BillingState.open_chooser,
                              id="open-plan-chooser")),
            align="center", width="100%", wrap="wrap", spacing="4",
        ),
        width="100%",
    )


def plan_action(plan: Plan) -> rx.Component:
    """A plan's button in the dialog: Checkout for a new subscriber, the app's own switch
    between paid plans, the Portal to cancel."""
    if not plan.overage:
        return rx.button("Downgrade in the portal", on_click=BillingState.manage,
                         variant="soft", color_scheme="gray", width="100%",
                         id=f"switch-{plan.key}")
    return rx.cond(
        BillingState.has_subscription,
        rx.button(f"Switch to {plan.name}", on_click=BillingState.switch_plan(plan.key),
                  loading=BillingState.checkout_plan == plan.key,
                  disabled=BillingState.checkout_plan != "",
                  variant="soft", width="100%", id=f"switch-{plan.key}"),
        rx.button(f"Upgrade to {plan.name}", on_click=BillingState.upgrade(plan.key),
                  loading=BillingState.checkout_plan == plan.key,
                  disabled=BillingState.checkout_plan != "",
                  width="100%", id=f"upgrade-{plan.key}"),
    )


def plan_chooser() -> rx.Component:
    return plans_dialog(open_var=BillingState.chooser_open, current_plan=BillingState.plan,
                        on_open_change=BillingState.chooser_open_change,
                        on_close=BillingState.close_chooser, action_for=plan_action)


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
            BillingState.invoices.length() > 0,
            data_table(["Date", "Number", "Amount", "Status", "Invoice"],
                       rx.foreach(BillingState.invoices, invoice_table_row),
                       table_id="invoices", label="Invoices"),
            rx.text("No invoices yet. They appear here after your first payment.",
                    color_scheme="gray", id="no-invoices"),
        ),
        width="100%", spacing="3", id="invoices-section",
    )


@rx.page(route=routes.BILLING, title="Billing · aether",
         # The usage numbers first: they are what people come to this page for.
         on_load=[BillingUsageState.load_usage_page, BillingState.load])
def billing_page() -> rx.Component:
    return app_page(
        rx.vstack(
            rx.heading("Billing", size="7", as_="h1"),
            checkout_notice(),
            start_checkout_prompt(),
            error_notice(),
            past_due_banner(),
            app_banners(welcome=False, past_due=False),
            rx.cond(BillingState.loaded, plan_card(), skeleton_rows(1, "5.5rem")),
            rx.cond(BillingUsageState.usage_loaded,
                    rx.vstack(usage_section(), cost_section(), width="100%", spacing="4"),
                    skeleton_rows(1, "12rem")),
            daily_chart(),
            rx.cond(BillingUsageState.usage_loaded, history_section(), skeleton_rows(2)),
            rx.cond(BillingUsageState.usage_loaded, projects_section(), skeleton_rows(2)),
            rx.cond(BillingState.loaded, invoices_table(), skeleton_rows(2)),
            spacing="5", width="100%",
        ),
        plan_chooser(),
    )
