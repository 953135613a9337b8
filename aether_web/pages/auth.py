"""Log-in and sign-up. The forms post to /api/auth/* so the session cookie can be HttpOnly.

A paid plan chosen on /pricing comes along as `?plan=pro` (a plan key, nothing personal) and
is posted with the sign-up form: Checkout opens for it once the address is confirmed."""

from __future__ import annotations

from urllib.parse import unquote

import reflex as rx

from aether_web import routes
from aether_web.billing.plans import PAID_PLAN_KEYS, PLANS
from aether_web.components.account_forms import (
    FORM_ERRORS,
    form_card,
    form_field,
    post_form,
    submit_button,
)
from aether_web.cookies import FORM_EMAIL_COOKIE, cookie_value
from aether_web.services.passwords import MIN_PASSWORD

NOTICES = {
    "password_reset": "Your password was changed and every device was signed out. Log in with "
                      "your new password.",
}

ERROR_MESSAGES = {
    "invalid_credentials": "Wrong email or password. Check them and try again.",
    "too_many_attempts": ("Too many attempts from here. Wait a few minutes and try again, or "
                          "reset your password."),
    "email_taken": "An account with this email already exists. Log in instead.",
    "invalid_email": "Enter a valid email address, like you@example.com.",
    "invalid_name": "Your name can't contain control or invisible characters (120 at most).",
    **FORM_ERRORS,
}


def _form_email(cookie_header: str) -> str:
    """The email of the form that just failed, from its short-lived cookie (never the URL)."""
    return unquote(cookie_value(cookie_header, FORM_EMAIL_COOKIE) or "")[:320]


class AuthFormState(rx.State):
    """Errors for the auth forms from the redirect's query; the email from a cookie."""

    error: str = ""
    error_code: str = ""
    notice: str = ""
    email: str = ""
    next_path: str = "/dashboard"
    plan: str = ""  # a paid plan chosen on /pricing
    plan_name: str = ""

    @rx.event
    def load(self) -> None:
        params = self.router.url.query_parameters
        code = params.get("error", "")
        self.error_code = code
        self.error = ERROR_MESSAGES.get(code, "Something went wrong. Please try again.") if code else ""
        self.notice = NOTICES.get(params.get("notice", ""), "")
        self.email = (_form_email(self.router.headers.cookie or "")
                      or params.get("email", "")[:320])
        plan = params.get("plan", "")
        self.plan = plan if plan in PAID_PLAN_KEYS else ""
        self.plan_name = PLANS[self.plan].name if self.plan else ""
        nxt = params.get("next", "/dashboard")
        self.next_path = nxt if nxt.startswith("/") and not nxt.startswith("//") else "/dashboard"


def _error_box() -> rx.Component:
    return rx.fragment(
        rx.cond(
            AuthFormState.notice != "",
            rx.callout(AuthFormState.notice, icon="circle_check", color_scheme="green",
                       role="status", id="form-notice", width="100%"),
        ),
        rx.cond(
            AuthFormState.error != "",
            rx.callout(
                rx.text(AuthFormState.error, " ",
                        rx.cond(AuthFormState.error_code == "too_many_attempts",
                                rx.link("Reset your password", href=routes.FORGOT_PASSWORD,
                                        id="error-reset-link"))),
                icon="triangle_alert", color_scheme="red", role="alert", id="form-error",
                width="100%"),
        ),
    )


@rx.page(route=routes.LOGIN, title="Log in · aether", on_load=AuthFormState.load)
def login() -> rx.Component:
    return form_card(
        "Log in to aether",
        _error_box(),
        post_form(
            "/api/auth/login",
            form_field("Email", "email", "email", default_value=AuthFormState.email,
                       auto_complete="email", required=True),
            form_field("Password", "password", "password", auto_complete="current-password",
                       required=True),
            rx.link("Forgot your password?", href=routes.FORGOT_PASSWORD, size="2",
                    id="forgot-password-link"),
            rx.el.input(type="hidden", name="next", value=AuthFormState.next_path),
            submit_button("Log in"),
        ),
        rx.text("New to aether? ", rx.link("Create an account", href=routes.SIGNUP), size="2"),
    )


@rx.page(route=routes.SIGNUP, title="Sign up · aether", on_load=AuthFormState.load)
def signup() -> rx.Component:
    return form_card(
        "Create your aether account",
        rx.cond(
            AuthFormState.plan != "",
            rx.callout(
                rx.text("You chose ", rx.text.strong(AuthFormState.plan_name), ". Create your "
                        "account and confirm your email address: the link takes you straight "
                        "on to Checkout."),
                icon="sparkles", id="signup-plan", width="100%"),
            rx.text("Free forever: 50 compute hours a month, 3 projects, 1 GB.", size="2",
                    color_scheme="gray"),
        ),
        _error_box(),
        post_form(
            "/api/auth/signup",
            form_field("Name (optional)", "name", "text", auto_complete="name", max_length=120),
            form_field("Email", "email", "email", default_value=AuthFormState.email,
                       auto_complete="email", required=True),
            form_field(f"Password (at least {MIN_PASSWORD} characters)", "password",
                       "password", auto_complete="new-password", required=True,
                       min_length=MIN_PASSWORD),
            rx.el.input(type="hidden", name="plan", value=AuthFormState.plan),
            submit_button("Create account"),
            rx.text("By signing up you agree to the ", rx.link("Terms", href=routes.TERMS),
                    " and the ", rx.link("Privacy Policy", href=routes.PRIVACY), ".",
                    size="1", color_scheme="gray"),
        ),
        rx.text("Already have an account? ", rx.link("Log in", href=routes.LOGIN), size="2"),
        rx.text("We'll email you a link to confirm your address.", size="1",
                color_scheme="gray"),
    )
