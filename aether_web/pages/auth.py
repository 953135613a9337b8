"""Log-in and sign-up. The forms post to /api/auth/* so the session cookie can be HttpOnly."""

from __future__ import annotations

from http.cookies import SimpleCookie
from urllib.parse import unquote

import reflex as rx

from aether_web import routes
from aether_web.api.context import FORM_EMAIL_COOKIE
from aether_web.components.layout import public_page
from aether_web.components.native_form import native_form

ERROR_MESSAGES = {
    "invalid_credentials": "Wrong email or password. Check them and try again.",
    "too_many_attempts": "Too many failed log-ins for this email. Wait 15 minutes and try again.",
    "email_taken": "An account with this email already exists. Log in instead.",
    "invalid_email": "Enter a valid email address, like you@example.com.",
    "weak_password": "Use at least 10 characters for your password.",
    "malformed_json": "Something went wrong sending the form. Please try again.",
}


def _form_email(cookie_header: str) -> str:
    """The email of the form that just failed, from its short-lived cookie (never the URL)."""
    try:
        jar = SimpleCookie()
        jar.load(cookie_header)
    except Exception:
        return ""
    morsel = jar.get(FORM_EMAIL_COOKIE)
    return unquote(morsel.value)[:320] if morsel else ""


class AuthFormState(rx.State):
    """Errors for the auth forms from the redirect's query; the email from a cookie."""

    error: str = ""
    email: str = ""
    next_path: str = "/dashboard"

    @rx.event
    def load(self) -> None:
        params = self.router.url.query_parameters
        code = params.get("error", "")
        self.error = ERROR_MESSAGES.get(code, "Something went wrong. Please try again.") if code else ""
        self.email = _form_email(self.router.headers.cookie or "")
        nxt = params.get("next", "/dashboard")
        self.next_path = nxt if nxt.startswith("/") and not nxt.startswith("//") else "/dashboard"


def _field(label: str, name: str, type_: str, **props) -> rx.Component:
    return rx.vstack(
        rx.el.label(label, html_for=name, style={"fontWeight": 500, "fontSize": "0.9rem"}),
        rx.input(id=name, name=name, type=type_, width="100%", size="3", **props),
        spacing="1",
        width="100%",
    )


def _error_box() -> rx.Component:
    return rx.cond(
        AuthFormState.error != "",
        rx.callout(AuthFormState.error, icon="triangle_alert", color_scheme="red", role="alert",
                   id="form-error", width="100%"),
    )


def _card(title: str, *children: rx.Component) -> rx.Component:
    return public_page(
        rx.center(
            rx.card(
                rx.vstack(rx.heading(title, size="6", as_="h1"), *children, spacing="4"),
                width="100%",
                max_width="26rem",
                size="3",
            ),
            padding_y="2rem",
        )
    )


@rx.page(route=routes.LOGIN, title="Log in · aether", on_load=AuthFormState.load)
def login() -> rx.Component:
    return _card(
        "Log in to aether",
        _error_box(),
        native_form(
            rx.vstack(
                _field("Email", "email", "email", default_value=AuthFormState.email,
                       auto_complete="email", required=True),
                _field("Password", "password", "password", auto_complete="current-password",
                       required=True),
                rx.el.input(type="hidden", name="next", value=AuthFormState.next_path),
                rx.button("Log in", type="submit", size="3", width="100%", id="submit"),
                spacing="4",
                width="100%",
            ),
            action="/api/auth/login",
            method="post",
            width="100%",
        ),
        rx.text("New to aether? ", rx.link("Create an account", href=routes.SIGNUP), size="2"),
    )


@rx.page(route=routes.SIGNUP, title="Sign up · aether", on_load=AuthFormState.load)
def signup() -> rx.Component:
    return _card(
        "Create your aether account",
        rx.text("Free forever: 50 compute hours a month, 3 projects, 1 GB.", size="2",
                color_scheme="gray"),
        _error_box(),
        native_form(
            rx.vstack(
                _field("Name (optional)", "name", "text", auto_complete="name", max_length=120),
                _field("Email", "email", "email", default_value=AuthFormState.email,
                       auto_complete="email", required=True),
                _field("Password (at least 10 characters)", "password", "password",
                       auto_complete="new-password", required=True, min_length=10),
                rx.button("Create account", type="submit", size="3", width="100%", id="submit"),
                rx.text("By signing up you agree to the ", rx.link("Terms", href=routes.TERMS),
                        " and the ", rx.link("Privacy Policy", href=routes.PRIVACY), ".",
                        size="1", color_scheme="gray"),
                spacing="4",
                width="100%",
            ),
            action="/api/auth/signup",
            method="post",
            width="100%",
        ),
        rx.text("Already have an account? ", rx.link("Log in", href=routes.LOGIN), size="2"),
    )
