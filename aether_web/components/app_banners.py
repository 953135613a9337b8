"""What signed-in pages show above their content: the usage warning from 80% of a limit (red
at a limit, with the upgrade), the past-due banner, and the welcome on a first visit.

A limit that stops an action (creating a project, starting a VM) opens the dashboard's limit
dialog, whose Upgrade leads to the plans on /billing."""

from __future__ import annotations

import reflex as rx

from aether_web import routes
from aether_web.components.a11y import link_button
from aether_web.components.banner import banner
from aether_web.state.usage import UsageState


def usage_warning() -> rx.Component:
    """Amber from 80% of any limit; at a limit, information with what to do next (it is the
    plan working as described, not an error)."""
    at_limit = UsageState.alert_level == "limit"
    return rx.cond(
        (UsageState.alert_level != "ok") & (UsageState.alert_key != UsageState.dismissed_alert),
        banner(
            rx.text(UsageState.alert_message, id="usage-warning-text"),
            link_button("See usage", variant="soft", size="1", color_scheme="gray",
                        high_contrast=True, href=routes.BILLING),
            rx.cond(UsageState.plan == "free",
                    link_button("Upgrade", size="1", color_scheme="violet",
                                href=routes.BILLING + "?upgrade=1",
                                id="usage-warning-upgrade")),
            rx.icon_button(rx.icon("x", size=14), size="1", variant="ghost",
                           color_scheme="gray", high_contrast=True,
                           aria_label="Dismiss this notice", id="usage-warning-dismiss",
                           on_click=UsageState.dismiss_alert),
            icon=rx.cond(at_limit, "info", "triangle_alert"),
            color_scheme=rx.cond(at_limit, "violet", "amber"),
            high_contrast=True,
            role="status",
            id="usage-warning",
            data_level=UsageState.alert_level,
            width="100%",
        ),
    )


def past_due_banner() -> rx.Component:
    """A failed payment: keep the plan until the grace period ends; fix the card now."""
    return rx.cond(
        UsageState.account_past_due,
        banner(
            rx.text("We couldn't charge your card. Your plan stays active until ",
                    UsageState.account_grace_ends,
                    "; update your payment method to keep it."),
            rx.button("Update payment method", on_click=UsageState.open_portal,
                      color_scheme="red", high_contrast=True, size="1",
                      id="app-update-payment-method"),
            icon="credit_card",
            color_scheme="red",
            role="alert",
            id="app-past-due-banner",
            width="100%",
        ),
    )


def _tour_step(icon: str, title: str, text: str) -> rx.Component:
    return rx.hstack(
        rx.icon(icon, size=20, aria_hidden="true", flex_shrink="0"),
        rx.vstack(rx.text(title, weight="bold"), rx.text(text, size="2", color_scheme="gray"),
                  spacing="0"),
        align="start",
        spacing="3",
    )


def welcome_dialog() -> rx.Component:
    """A new user's first visit: a short tour and the docs."""
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Welcome to aether"),
            rx.dialog.description("Three things to know before you start:", size="2",
                                  margin_bottom="1rem"),
            rx.vstack(
                _tour_step("folder-plus", "Create a project",
                           "Each project gets its own VM. Name one to start."),
                _tour_step("play", "Start it when you work",
                           "Compute hours count only while a VM runs. Stop it when you're done."),
                _tour_step("gauge", "Watch your usage",
                           "The bar at the top shows this month's hours; Billing has the "
                           "details and your plan."),
                spacing="4",
            ),
            rx.hstack(
                rx.link("Read the docs", href=routes.DOCS, id="welcome-docs"),
                rx.spacer(),
                rx.button("Start building", id="welcome-dismiss",
                          on_click=UsageState.dismiss_welcome),
                align="center",
                margin_top="1.5rem",
                width="100%",
            ),
            id="welcome-dialog",
            max_width="28rem",
        ),
        open=UsageState.welcome_open,
        on_open_change=UsageState.welcome_open_change,
    )


def app_banners(*, welcome: bool = True, past_due: bool = True) -> rx.Component:
    """The banners and app-wide dialogs; `welcome` also checks for a first visit; `past_due`
    is off where the page has its own past-due banner."""
    children = [usage_warning(), *([past_due_banner()] if past_due else [])]
    if welcome:
        children.append(rx.box(welcome_dialog(), on_mount=UsageState.check_welcome,
                               display="contents"))
    return rx.fragment(*children)
