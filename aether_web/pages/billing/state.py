"""/billing's state: one `BillingState`. Its on_load reads the page with this month's numbers
(and the header's usage) in one transaction; the months of history, the chart, the per-project
lines and Stripe's answers follow in one background event, each outside the state lock."""

from __future__ import annotations

import asyncio
from datetime import datetime

import reflex as rx
from sqlmodel import Session

from aether_web import routes
from aether_web.db import transaction
from aether_web.errors import AetherError
from aether_web.models import Profile
from aether_web.pages.billing import overview
from aether_web.pages.billing.project_months import ProjectMonthsMixin
from aether_web.services import billing as billing_service
from aether_web.services import subscription_lifecycle
from aether_web.state.auth import AuthState, login_required
from aether_web.state.portal import PortalMixin
from aether_web.state.usage import UsageState

# After Checkout, the webhook usually lands within a second; wait this long at most.
CONFIRM_POLLS, CONFIRM_INTERVAL_SECONDS = 20, 0.5


class BillingState(PortalMixin, ProjectMonthsMixin, AuthState):
    """The signed-in user's billing page: plan, usage and cost, invoices, Checkout, the switch
    between paid plans, the Customer Portal (its refusals in the page's error)."""

    loaded: bool = False
    # The plan and the subscription
    plan_name: str = "Free"
    plan_price: str = "$0.00"
    status_label: str = ""
    has_subscription: bool = False
    has_billing_account: bool = False
    past_due: bool = False
    grace_ends: str = ""
    invoices: list[dict[str, str]] = []
    card_text: str = ""
    renewal_text: str = ""
    account_state: str = "none"  # none | loading | ready | unavailable
    # What the page says, and the plan dialog
    notice: str = ""
    notice_kind: str = "info"  # info | success | warning
    confirming: bool = False
    chooser_open: bool = False
    checkout_plan: str = ""  # the plan whose Checkout (or switch) is under way
    # The plan chosen on /pricing (`?start=`): Checkout waits for a click on this page, so a
    # link from another site can't start it.
    start_plan: str = ""
    start_plan_name: str = ""
    error: str = ""
    error_code: str = ""
    # Usage and cost (the bars themselves are the header's `UsageState`)
    period_label: str = ""
    history: list[dict[str, str]] = []
    history_loaded: bool = False
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
    _overage_cents: int = 0
    _priced_at: str = ""  # when the first answer priced this month (the history is too)
    _usage_plan_name: str = ""
    _checkout_outcome: str = ""  # ?checkout= of the address just left, said once

    def _show(self, session: Session, user: Profile, usage: UsageState) -> None:
        """Read the page for `user` in the caller's transaction and show it, the header's
        bars included; the background details are then loading."""
        self._remember(user)
        seen = overview.read_overview(session, user_id=user.id)
        usage._show_usage(seen.usage, seen.account)
        account = seen.account
        self.plan_name, self.plan_price = account.plan_name, seen.plan_price
        self.status_label, self.invoices = seen.status_label, seen.invoices
        self.has_subscription = account.has_subscription
        self.has_billing_account = account.has_billing_account
        self.past_due, self.grace_ends = account.past_due, seen.grace_ends
        self.is_paid, self.period_label = seen.is_paid, seen.period_label
        self.history, self.has_usage = seen.history, seen.has_usage
        self.history_loaded, self._priced_at = False, seen.at.isoformat()
        self._overage_cents, self.overage_so_far = seen.overage_cents, seen.overage_so_far
        self._usage_plan_name = seen.usage_plan_name
        self.overage_explanation = seen.overage_explanation
        self.next_invoice_state = "loading" if seen.is_paid else "none"
        self.daily_loaded = False
        self._months_from_history()
        self.projects_loaded = False
        self.loaded = True

    async def _read_page(self) -> None:
        usage = await self.get_state(UsageState)  # before the transaction: it may await
        with transaction() as session:
            self._show(session, self._user(session), usage)

    @rx.event
    @login_required
    async def load(self):
        """On load: the page, and what to say after returning from Checkout."""
        params = self.router.url.query_parameters
        if params.get("checkout", ""):
            # Said once: the address first loses ?checkout= (a client-side replace, which
            # loads the page again and says it then), so a reload doesn't say it again.
            self._checkout_outcome = params["checkout"]
            return rx.redirect(routes.BILLING, replace=True)
        outcome, self._checkout_outcome = self._checkout_outcome, ""
        self.error = self.notice = ""
        await self._read_page()
        events: list = [BillingState.load_details]
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
        # The card on file and the renewal date: Stripe, in `load_details`.
        self.account_state = "loading" if self.has_billing_account else "none"
        return events

    @rx.event
    @login_required
    async def say_switched(self):
        """The page again after an in-app plan switch, saying which plan it is on now."""
        await self._read_page()
        self.notice_kind = "success"
        self.notice = (f"You're on {self.plan_name} now. The flat fee is prorated on your "
                       "next invoice.")
        return BillingState.load_details

    @rx.event
    @login_required
    async def reload_page(self):
        """The page again after the plan changed (the notice stays)."""
        await self._read_page()
        return BillingState.load_details

    @rx.event
    def dismiss_notice(self) -> None:
        self.notice = ""

    def _say_upgraded(self) -> None:
        self.notice_kind = "success"
        self.notice = f"You're on {self.plan_name} now. Thanks for upgrading!"
        self.confirming = False

    @rx.event(background=True)
    @login_required
    async def confirm_upgrade(self):
        """Wait until Stripe's webhook has moved the user off Free (or give up politely)."""
        for _ in range(CONFIRM_POLLS):
            await asyncio.sleep(CONFIRM_INTERVAL_SECONDS)
            async with self:
                with transaction() as session:
                    account = billing_service.billing_summary(session,
                                                              user_id=self._user_id(session))
                if account.plan != "free":
                    self.plan_name = account.plan_name
                    self._say_upgraded()
                    return BillingState.reload_page
        async with self:
            self.confirming = False
            self.notice_kind = "info"
            self.notice = ("Your payment is being confirmed. Your plan will update in a "
                           "minute; refresh this page to see it.")

    @rx.event
    def chooser_open_change(self, is_open: bool) -> None:
        self.chooser_open = is_open

    @rx.event(background=True)
    @login_required
    async def upgrade(self, plan_key: str):
        """Start Checkout for Pro or Team (the same service as the API). `checkout_url` owns
        its transactions; Stripe is called on a worker thread, outside the state lock, so a
        slow Stripe holds up neither this page's other events nor anyone else's."""
        async with self:
            user_id = self._current_user_id()
            self.error = ""
            self.error_code = ""
            self.checkout_plan = plan_key  # the button shows progress while Stripe answers
            self.start_plan = ""
        try:
            url = await asyncio.to_thread(billing_service.checkout_url, user_id=user_id,
                                          plan_key=plan_key)
        except AetherError as exc:
            async with self:
                self.checkout_plan = ""
                self.chooser_open = False
                self.error = exc.message
                self.error_code = exc.code
            return None
        return rx.redirect(url)  # another host: the browser leaves the app in this tab

    @rx.event(background=True)
    @login_required
    async def switch_plan(self, plan_key: str):
        """Pro <-> Team on the current subscription (the Portal can't switch a subscription
        with metered prices); Stripe prorates the flat fee. `switch_plan` owns its
        transactions; Stripe is called on a worker thread, outside the state lock."""
        async with self:
            user_id = self._current_user_id()
            self.error, self.checkout_plan = "", plan_key
        try:
            await asyncio.to_thread(subscription_lifecycle.switch_plan, user_id=user_id,
                                    plan_key=plan_key)
            failed = ""
        except AetherError as exc:
            failed = exc.message
        async with self:
            self.error, self.checkout_plan, self.chooser_open = failed, "", False
        return None if failed else BillingState.say_switched

    def _portal_error(self, message: str):
        """The Portal's refusal in the page's error (cleared as it opens)."""
        self.error = message

    @rx.event(background=True)
    @login_required
    async def load_details(self):
        """The months of history (priced at the first answer's moment), the daily chart, the
        chosen month's projects, then Stripe's invoice preview and the card on file (which may
        take a moment), each awaited on a worker thread."""
        async with self:
            user_id = self._current_user_id()
            is_paid, with_card = self.is_paid, self.account_state == "loading"
            overage_cents, plan_name = self._overage_cents, self._usage_plan_name
            priced_at = datetime.fromisoformat(self._priced_at)
        card = (asyncio.ensure_future(asyncio.to_thread(overview.card_and_renewal, user_id))
                if with_card else None)
        past = await asyncio.to_thread(overview.read_history, user_id, priced_at)
        async with self:
            self.history, self.has_usage, self.history_loaded = past.rows, past.has_usage, True
            self._months_from_history()
            months = [self.project_month] if self.project_month else []
        days = await asyncio.to_thread(overview.daily_rows, user_id)
        async with self:
            self.daily, self.daily_loaded = days, True
        lines = await asyncio.to_thread(overview.project_rows, user_id, months)
        async with self:
            self.project_rows, self.projects_loaded = lines, True
        if is_paid:
            preview = await asyncio.to_thread(overview.invoice_preview, user_id)
            invoice = preview and overview.next_invoice(preview, overage_cents=overage_cents,
                                                        plan_name=plan_name)
            async with self:
                self.next_invoice_state = "ready" if invoice else "unavailable"
                if invoice:
                    self.next_invoice_total, self.next_invoice_date = invoice.total, invoice.due
                    self.next_invoice_detail = invoice.detail
        if card is not None:
            details = await card
            async with self:
                if details is None:
                    self.account_state = "unavailable"
                else:
                    self.card_text, self.renewal_text = details.card, details.renewal
                    self.account_state = "ready"
