"""The pages behind the links we email: asking for a password reset, choosing the new password,
and confirming an email address (which, for a plan chosen on /pricing, goes on to Checkout)."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import reflex as rx

from aether_web import routes
from aether_web.components.a11y import link_button
from aether_web.components.account_forms import (
    FORM_ERRORS,
    form_card,
    form_field,
    post_form,
    submit_button,
)
from aether_web.db import transaction
from aether_web.errors import AetherError
from aether_web.services import accounts, billing, password_reset, verification
from aether_web.services.passwords import MIN_PASSWORD
from aether_web.state.auth import AuthState, session_token_from_cookie

RESET_ERRORS = {
    "invalid_token": "This reset link is invalid, used or expired. Ask for a new one below.",
    **FORM_ERRORS,
}


class AccountLinkState(rx.State):
    """What the reset and confirmation pages show, from their query and the token."""

    sent: bool = False
    error: str = ""
    token: str = ""
    link_ok: bool = False
    loaded: bool = False
    confirmed_email: str = ""
    next_href: str = ""
    next_label: str = ""

    @rx.event
    def load_forgot(self) -> None:
        params = self.router.url.query_parameters
        self.sent = params.get("sent") == "1"
        self.error = RESET_ERRORS.get(params.get("error", ""), "") if params.get("error") else ""

    @rx.event
    def load_reset(self) -> None:
        params = self.router.url.query_parameters
        self.token = params.get("token", "")[:200]
        code = params.get("error", "")
        self.error = RESET_ERRORS.get(code, "Something went wrong. Please try again.") if code \
            else ""
        with transaction() as session:
            self.link_ok = password_reset.reset_link_is_live(session, token=self.token)
        self.loaded = True

    @rx.event
    async def load_verify(self):
        """Use the confirmation link; a signed-in user with a plan chosen goes on to Checkout
        (the link's secret token shows the click is theirs; /billing?start= alone asks for a
        click). Stripe is called on a worker thread; if it fails, /billing offers the plan."""
        token = self.router.url.query_parameters.get("token", "")[:200]
        self.error, self.confirmed_email = "", ""
        try:
            with transaction() as session:
                changed = verification.changes_address(session, token=token)
                profile = verification.confirm_email(session, token=token)
                self.confirmed_email = profile.email
                customer_id = profile.stripe_customer_id
                plan, user_id = profile.signup_plan, profile.id
                auth = accounts.user_for_token(
                    session, token=session_token_from_cookie(self.router.headers.cookie or ""))
                signed_in_here = auth is not None and auth.id == profile.id
        except AetherError as exc:
            self.error = exc.message
            self.loaded = True
            return None
        self.loaded = True
        if changed and customer_id:
            billing.sync_customer_email(customer_id=customer_id, email=self.confirmed_email)
        start = f"{routes.BILLING}?start={plan}" if plan else routes.DASHBOARD
        if signed_in_here and plan:
            try:
                return rx.redirect(await asyncio.to_thread(
                    billing.checkout_url, user_id=user_id, plan_key=plan))
            except AetherError:
                return rx.redirect(start)
        if signed_in_here:
            self.next_href, self.next_label = routes.DASHBOARD, "Go to your projects"
        else:
            self.next_href = f"{routes.LOGIN}?next={quote(start, safe='/')}"
            self.next_label = "Log in to continue" + (" to Checkout" if plan else "")
        return None


def _error() -> rx.Component:
    return rx.cond(AccountLinkState.error != "",
                   rx.callout(AccountLinkState.error, icon="triangle_alert", color_scheme="red",
                              role="alert", id="form-error", width="100%"))


@rx.page(route=routes.FORGOT_PASSWORD, title="Reset your password · aether",
         on_load=[AuthState.load_optional_user, AccountLinkState.load_forgot])
def forgot_password() -> rx.Component:
    return form_card(
        "Reset your password",
        _error(),
        rx.cond(
            AccountLinkState.sent,
            rx.callout(password_reset.SENT_MESSAGE, icon="mail", color_scheme="green",
                       role="status", id="reset-sent", width="100%"),
            rx.text("Enter the email address of your account and we'll send you a link to "
                    "choose a new password.", size="2"),
        ),
        post_form(
            "/api/auth/forgot-password",
            form_field("Email", "email", "email", auto_complete="email", required=True),
            submit_button("Send the link"),
        ),
        rx.text("Remembered it? ", rx.link("Log in", href=routes.LOGIN), size="2"),
    )


@rx.page(route=routes.RESET_PASSWORD, title="Choose a new password · aether",
         on_load=[AuthState.load_optional_user, AccountLinkState.load_reset])
def reset_password() -> rx.Component:
    return form_card(
        "Choose a new password",
        _error(),
        rx.cond(
            ~AccountLinkState.loaded,
            rx.skeleton(rx.box(height="6rem", width="100%"), loading=True),
            rx.cond(
                AccountLinkState.link_ok,
                post_form(
                    "/api/auth/reset-password",
                    form_field(f"New password (at least {MIN_PASSWORD} characters)",
                               "password", "password", auto_complete="new-password",
                               required=True, min_length=MIN_PASSWORD),
                    rx.el.input(type="hidden", name="token", value=AccountLinkState.token),
                    rx.text("Every device signed in to your account will be signed out.",
                            size="1", color_scheme="gray"),
                    submit_button("Set the new password"),
                ),
                rx.vstack(
                    rx.callout(RESET_ERRORS["invalid_token"], icon="triangle_alert",
                               color_scheme="red", role="alert", id="reset-link-invalid",
                               width="100%"),
                    rx.link("Ask for a new link", href=routes.FORGOT_PASSWORD),
                ),
            ),
        ),
    )


@rx.page(route=routes.VERIFY_EMAIL, title="Confirm your email · aether",
         on_load=[AuthState.load_optional_user, AccountLinkState.load_verify])
def verify_email() -> rx.Component:
    return form_card(
        "Confirm your email",
        rx.cond(
            ~AccountLinkState.loaded,
            rx.skeleton(rx.box(height="3rem", width="100%"), loading=True),
            rx.cond(
                AccountLinkState.error != "",
                rx.vstack(
                    _error(),
                    rx.text("Log in and send a new link from the banner or from Settings.",
                            size="2"),
                    rx.link("Log in", href=routes.LOGIN),
                ),
                rx.vstack(
                    rx.callout(rx.text("Thanks! ", rx.text.strong(
                        AccountLinkState.confirmed_email), " is confirmed."),
                        icon="circle_check", color_scheme="green", role="status",
                        id="verify-done", width="100%"),
                    rx.cond(AccountLinkState.next_href != "",
                            link_button(AccountLinkState.next_label, size="3",
                                        href=AccountLinkState.next_href, id="verify-next")),
                ),
            ),
        ),
    )
