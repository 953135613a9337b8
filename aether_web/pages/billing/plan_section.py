"""/billing's plan half: the notices at the top, the current plan with its card and renewal,
and the plan dialog (Checkout for a new subscriber, the app's own switch between paid plans,
the Portal to cancel)."""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx

from aether_web.billing.plans import PLANS, Plan
from aether_web.components.banner import banner
from aether_web.components.plans import plan_card as catalogue_card
from aether_web.components.verify_banner import resend_button
from aether_web.pages.billing.state import BillingState


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
                      on_click=BillingState.open_portal, id="card-portal"),
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
        banner(
            rx.text("You chose ", BillingState.start_plan_name, " before signing up."),
            rx.button("Continue to Checkout for ", BillingState.start_plan_name,
                      on_click=BillingState.upgrade(BillingState.start_plan),
                      loading=BillingState.checkout_plan != "", id="start-checkout"),
            icon="info", color_scheme="blue", id="start-checkout-prompt"),
    )


def error_notice() -> rx.Component:
    return rx.cond(
        BillingState.error != "",
        banner(
            rx.text(BillingState.error),
            rx.cond(BillingState.error_code == "email_unverified",
                    resend_button(id="billing-resend-verification")),
            icon="circle_alert", color_scheme="red", role="alert", id="billing-error"))


def past_due_banner() -> rx.Component:
    return rx.cond(
        BillingState.past_due,
        banner(
            rx.text("We couldn't charge your card. You keep ", BillingState.plan_name,
                    " until ", BillingState.grace_ends,
                    "; after that your account moves to Free (nothing is deleted)."),
            rx.button("Update payment method", on_click=BillingState.open_portal,
                      color_scheme="red", high_contrast=True, id="update-payment-method"),
            spacing="4",
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
                        rx.button("Compare plans", on_click=BillingState.chooser_open_change(True),
                                  variant="soft", color_scheme="gray", id="compare-plans"),
                        rx.button("Manage subscription", on_click=BillingState.open_portal,
                                  variant="soft", id="manage-subscription"),
                        spacing="3"),
                    rx.button("Upgrade", on_click=BillingState.chooser_open_change(True),
                              id="open-plan-chooser")),
            align="center", width="100%", wrap="wrap", spacing="4",
        ),
        width="100%",
    )


def plan_action(plan: Plan) -> rx.Component:
    """A plan's button in the dialog: Checkout for a new subscriber, the app's own switch
    between paid plans, the Portal to cancel."""
    if not plan.is_paid:
        return rx.button("Downgrade in the portal", on_click=BillingState.open_portal,
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
                        on_close=BillingState.chooser_open_change(False), action_for=plan_action)


def plans_dialog(
    *, open_var, current_plan, on_open_change, on_close, action_for: Callable[[Plan], rx.Component],
) -> rx.Component:
    """The plans side by side from the catalogue, the current one marked, each with the
    caller's action (Checkout, or the Portal for a subscriber)."""

    def card(plan: Plan) -> rx.Component:
        return rx.box(
            catalogue_card(plan, rx.cond(
                current_plan == plan.key,
                rx.button("Your current plan", disabled=True, variant="soft", width="100%",
                          id=f"current-{plan.key}"),
                action_for(plan))),
            rx.cond(current_plan == plan.key,
                    rx.badge("Current plan", variant="solid", color_scheme="grass", high_contrast=True,
                             position="absolute", top="-0.6rem", left="1rem",
                             class_name="current-plan-marker")),
            position="relative",
            height="100%",
            style={"& > .rt-Card": {"height": "100%"}},
        )

    return rx.dialog.root(
        rx.dialog.content(
            rx.hstack(
                rx.dialog.title("Choose a plan", margin="0"),
                rx.spacer(),
                rx.icon_button(rx.icon("x", size=16), variant="ghost", color_scheme="gray",
                               aria_label="Close", on_click=on_close, id="close-plan-chooser"),
                width="100%", align="center",
            ),
            rx.dialog.description(
                "Pro and Team keep running past their hours and bill the extra as overage. "
                "You can change or cancel any time.",
                size="2", color_scheme="gray", margin_bottom="1.25rem"),
            rx.grid(*[card(plan) for plan in PLANS.values()],
                    columns=rx.breakpoints(initial="1", md="3"), spacing="4", width="100%"),
            max_width="60rem",
            id="plan-chooser",
        ),
        open=open_var,
        on_open_change=on_open_change,
    )
