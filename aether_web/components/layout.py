"""Page frames: the public site and the signed-in app."""

from __future__ import annotations

import reflex as rx

from aether_web import routes
from aether_web.components.native_form import native_form
from aether_web.components.usage_meter import header_usage
from aether_web.components.verify_banner import verify_banner
from aether_web.state.auth import AuthState
from aether_web.state.usage import UsageState


def logo() -> rx.Component:
    return rx.link(
        rx.hstack(
            rx.icon("hammer", size=20, aria_hidden="true"),
            rx.text("aether", weight="bold", size="5"),
            align="center",
            spacing="2",
        ),
        href=routes.HOME,
        underline="none",
        color_scheme="gray",
        high_contrast=True,
        aria_label="aether home",
    )


def logout_form() -> rx.Component:
    return native_form(
        rx.button("Log out", type="submit", variant="soft", color_scheme="gray", id="logout"),
        action="/api/auth/logout",
        method="post",
    )


def footer() -> rx.Component:
    return rx.el.footer(
        rx.hstack(
            rx.text("© aether", size="2", color_scheme="gray"),
            rx.spacer(),
            rx.link("Pricing", href=routes.PRICING, size="2"),
            rx.link("Docs", href=routes.DOCS, size="2"),
            rx.link("Terms", href=routes.TERMS, size="2"),
            rx.link("Privacy", href=routes.PRIVACY, size="2"),
            spacing="4",
            wrap="wrap",
            width="100%",
            max_width="72rem",
            margin_x="auto",
            padding="1.5rem",
        ),
        border_top="1px solid var(--gray-a5)",
        margin_top="4rem",
    )


def public_header() -> rx.Component:
    return rx.el.header(
        rx.hstack(
            logo(),
            rx.spacer(),
            rx.link("Pricing", href=routes.PRICING),
            rx.link("Docs", href=routes.DOCS),
            rx.cond(
                AuthState.signed_in,
                rx.link(rx.button("Dashboard"), href=routes.DASHBOARD),
                rx.hstack(
                    rx.link("Log in", href=routes.LOGIN, id="nav-login"),
                    rx.link(rx.button("Sign up free"), href=routes.SIGNUP, id="nav-signup"),
                    spacing="4",
                    align="center",
                ),
            ),
            spacing=rx.breakpoints(initial="3", sm="5"),
            align="center",
            width="100%",
            max_width="72rem",
            margin_x="auto",
            padding=rx.breakpoints(initial="0.75rem 1rem", sm="1rem 1.5rem"),
            wrap="wrap",
        ),
        border_bottom="1px solid var(--gray-a5)",
    )


def public_page(*children: rx.Component, max_width: str = "72rem") -> rx.Component:
    """A visitor-facing page: header, main content, footer."""
    return rx.box(
        public_header(),
        rx.el.main(
            rx.box(*children, max_width=max_width, margin_x="auto", padding="2rem 1.5rem"),
        ),
        footer(),
        min_height="100vh",
    )


def app_header(*extra: rx.Component) -> rx.Component:
    return rx.el.header(
        rx.hstack(
            logo(),
            rx.link("Projects", href=routes.DASHBOARD, id="nav-dashboard"),
            rx.link("Billing", href=routes.BILLING, id="nav-billing"),
            rx.link("Docs", href=routes.DOCS),
            rx.cond(AuthState.is_admin, rx.link("Support", href=routes.ADMIN)),
            rx.spacer(),
            *extra,
            header_usage(UsageState),
            rx.badge(AuthState.plan.upper(), id="plan-badge", variant="soft"),
            rx.link(AuthState.user_email, href=routes.SETTINGS, size="2", color_scheme="gray",
                    id="user-email", title="Account settings"),
            logout_form(),
            spacing="4",
            align="center",
            width="100%",
            max_width="72rem",
            margin_x="auto",
            padding="0.75rem 1.5rem",
            wrap="wrap",
        ),
        border_bottom="1px solid var(--gray-a5)",
    )


def app_page(*children: rx.Component, header_extra: tuple = ()) -> rx.Component:
    """A signed-in page: the app header and the content."""
    return rx.box(
        app_header(*header_extra),
        rx.el.main(
            rx.box(verify_banner(), *children, max_width="72rem", margin_x="auto", padding="1.5rem"),
        ),
        min_height="100vh",
    )


def skeleton_rows(count: int = 3, height: str = "4.5rem") -> rx.Component:
    """Placeholders while data loads."""
    return rx.vstack(
        *[rx.skeleton(rx.box(height=height, width="100%"), loading=True) for _ in range(count)],
        width="100%",
        spacing="3",
        aria_busy="true",
        aria_label="Loading",
    )
