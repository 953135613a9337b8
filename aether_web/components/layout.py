"""Page frames: the public site and the signed-in app."""

from __future__ import annotations

import reflex as rx

from aether_web import routes
from aether_web.components.a11y import link_button, main_region, skip_link
from aether_web.components.flash import flash
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


LOGOUT_FORM = "logout-form"


def logout_form() -> rx.Component:
    return native_form(
        rx.button("Log out", type="submit", variant="soft", color_scheme="gray", id="logout"),
        action="/api/auth/logout",
        method="post",
        id=LOGOUT_FORM,
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


def _wide(*children: rx.Component, at: str = "sm") -> rx.Component:
    """Shown from the `at` breakpoint up (sm = 768 px, md = 1024 px)."""
    return rx.hstack(*children, display=rx.breakpoints(initial="none", **{at: "flex"}),
                     align="center", spacing="5")


def _nav_menu(*items: rx.Component, at: str = "sm") -> rx.Component:
    """Below the `at` breakpoint the header's links move into one menu button, so the header
    stays one row on a phone."""
    return rx.box(
        rx.menu.root(
            rx.menu.trigger(rx.icon_button(rx.icon("menu", size=18), variant="soft",
                                           color_scheme="gray", aria_label="Menu",
                                           id="nav-menu")),
            rx.menu.content(*items, align="end"),
        ),
        display=rx.breakpoints(initial="block", **{at: "none"}),
    )


def _menu_link(label: str, href: str, item_id: str) -> rx.Component:
    return rx.menu.item(rx.link(label, href=href, underline="none", color_scheme="gray",
                                high_contrast=True, id=item_id), as_child=True)


def _header_bar(*children: rx.Component, spacing, padding) -> rx.Component:
    """The header's one row (never wrapped: on a phone the links are in the menu), as wide as
    the content, over a line."""
    return rx.el.header(
        rx.hstack(*children, spacing=spacing, align="center", width="100%", max_width="72rem",
                  margin_x="auto", padding=padding, wrap="nowrap"),
        border_bottom="1px solid var(--gray-a5)",
    )


def public_header() -> rx.Component:
    return _header_bar(
        logo(),
        rx.spacer(),
        _wide(
            rx.link("Pricing", href=routes.PRICING),
            rx.link("Docs", href=routes.DOCS),
            rx.cond(~AuthState.signed_in,
                    rx.link("Log in", href=routes.LOGIN, id="nav-login")),
        ),
        rx.cond(
            AuthState.signed_in,
            link_button("Dashboard", href=routes.DASHBOARD, id="nav-dashboard-button"),
            link_button("Sign up free", href=routes.SIGNUP, id="nav-signup"),
        ),
        _nav_menu(
            _menu_link("Pricing", routes.PRICING, "menu-pricing"),
            _menu_link("Docs", routes.DOCS, "menu-docs"),
            rx.cond(~AuthState.signed_in, _menu_link("Log in", routes.LOGIN, "menu-login")),
        ),
        spacing=rx.breakpoints(initial="3", sm="5"),
        padding=rx.breakpoints(initial="0.75rem 1rem", sm="1rem 1.5rem"),
    )


def public_page(*children: rx.Component, max_width: str = "72rem") -> rx.Component:
    """A visitor-facing page: header, main content, footer."""
    return rx.box(
        skip_link(),
        public_header(),
        main_region(
            rx.box(*children, max_width=max_width, margin_x="auto", padding="2rem 1.5rem"),
        ),
        footer(),
        min_height="100vh",
    )


def plan_badge() -> rx.Component:
    """The plan as the server knows it; a placeholder until the first answer (never a guess)."""
    return rx.cond(
        AuthState.signed_in,
        rx.badge(AuthState.plan.upper(), id="plan-badge", variant="soft"),
        rx.skeleton(rx.badge("PLAN", variant="soft"), loading=True, aria_hidden="true"),
    )


def app_header(*extra: rx.Component) -> rx.Component:
    return _header_bar(
        logo(),
        _wide(
            rx.link("Projects", href=routes.DASHBOARD, id="nav-dashboard"),
            rx.link("Billing", href=routes.BILLING, id="nav-billing"),
            rx.link("Docs", href=routes.DOCS),
            rx.cond(AuthState.is_admin, rx.link("Support", href=routes.ADMIN)),
            at="md",
        ),
        rx.spacer(),
        *extra,
        header_usage(UsageState),
        plan_badge(),
        _wide(
            rx.link(AuthState.user_email, href=routes.SETTINGS, size="2", color_scheme="gray",
                    id="user-email", class_name="ellipsis", max_width="14rem",
                    title="Account settings: " + AuthState.user_email),
            logout_form(),
            at="md",
        ),
        _nav_menu(
            rx.text(AuthState.user_email, size="1", color_scheme="gray", class_name="ellipsis",
                    max_width="14rem", padding="0.25rem 0.75rem"),
            _menu_link("Projects", routes.DASHBOARD, "menu-dashboard"),
            _menu_link("Billing", routes.BILLING, "menu-billing"),
            _menu_link("Docs", routes.DOCS, "menu-docs"),
            _menu_link("Account settings", routes.SETTINGS, "menu-settings"),
            rx.cond(AuthState.is_admin, _menu_link("Support", routes.ADMIN, "menu-admin")),
            rx.menu.separator(),
            rx.menu.item(rx.el.button("Log out", type="submit", form=LOGOUT_FORM,
                                      id="menu-logout"), as_child=True),
            at="md",
        ),
        spacing=rx.breakpoints(initial="2", sm="4"),
        padding=rx.breakpoints(initial="0.5rem 0.75rem", sm="0.75rem 1.5rem"),
    )


def app_page(*children: rx.Component, header_extra: tuple = ()) -> rx.Component:
    """A signed-in page: the app header, the content and the app-wide notice."""
    return rx.box(
        skip_link(),
        app_header(*header_extra),
        main_region(
            rx.box(verify_banner(), *children, max_width="72rem", margin_x="auto",
                   padding="1.5rem"),
        ),
        flash(),
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
