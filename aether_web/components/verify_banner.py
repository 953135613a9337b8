"""The banner of an account whose email address is not confirmed yet."""

from __future__ import annotations

import reflex as rx

from aether_web.components.banner import banner
from aether_web.state.auth import AuthState
from aether_web.state.verification import VerificationState


def resend_button(**props) -> rx.Component:
    """Send the confirmation link again."""
    return rx.button("Resend the link", on_click=VerificationState.resend,
                     loading=VerificationState.resending, size="1", variant="soft",
                     id=props.pop("id", "resend-verification"), **props)


def verify_banner() -> rx.Component:
    return rx.cond(
        AuthState.signed_in & ~AuthState.email_verified,
        banner(
            rx.text("Confirm your email address: open the link we sent to ",
                    rx.text.strong(AuthState.user_email),
                    ". Until then you can use Free with one VM running at a time, and "
                    "paid plans wait.", id="verify-banner-text"),
            resend_button(),
            rx.cond(VerificationState.resend_message != "",
                    rx.text(VerificationState.resend_message, size="1",
                            id="resend-verification-message")),
            icon="mail",
            color_scheme="blue",
            role="status",
            id="verify-banner",
            width="100%",
            margin_bottom="1rem",
        ),
    )
