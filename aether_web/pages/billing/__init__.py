"""/billing: the plan, this month's usage and cost, history, upgrades through Checkout, the
Portal, invoices.

`state.BillingState` is the page's one state (the header's bars are `state.usage.UsageState`);
`overview` reads what it shows; `plan_section` and `usage_sections` are the view pieces. The
page opens with one read; the chart, the projects and Stripe's answers follow in the background.
"""

from __future__ import annotations

import reflex as rx

from aether_web import routes
from aether_web.components.app_banners import app_banners
from aether_web.components.layout import app_page, skeleton_rows
from aether_web.pages.billing.plan_section import (
    checkout_notice,
    error_notice,
    past_due_banner,
    plan_card,
    plan_chooser,
    start_checkout_prompt,
)
from aether_web.pages.billing.state import BillingState
from aether_web.pages.billing.usage_sections import (
    cost_section,
    daily_chart,
    history_section,
    invoices_table,
    projects_section,
    usage_section,
)


@rx.page(route=routes.BILLING, title="Billing · aether", on_load=BillingState.load)
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
            rx.cond(BillingState.loaded,
                    rx.vstack(usage_section(), cost_section(), width="100%", spacing="4"),
                    skeleton_rows(1, "12rem")),
            daily_chart(),
            rx.cond(BillingState.history_loaded, history_section(), skeleton_rows(2)),
            rx.cond(BillingState.loaded, projects_section(), skeleton_rows(2)),
            rx.cond(BillingState.loaded, invoices_table(), skeleton_rows(2)),
            spacing="5", width="100%",
        ),
        plan_chooser(),
    )
