"""The pricing page: the three plans and overage prices from the catalogue, a worked overage
bill computed by the billing rules, an FAQ, and the way to sign up or upgrade."""

from __future__ import annotations

import uuid
from datetime import date

import reflex as rx

from aether_web import routes
from aether_web.billing.plans import (
    BYTES_PER_GB,
    COMPUTE_OVERAGE_CENTS_PER_HOUR,
    FREE,
    PRO,
    STORAGE_OVERAGE_CENTS_PER_GB_MONTH,
    TEAM,
    Plan,
    PlanKey,
)
from aether_web.components.a11y import link_button
from aether_web.components.head import social_image, social_meta
from aether_web.components.layout import public_page
from aether_web.components.plans import (
    comparison_table,
    compute_overage_price,
    dollars,
    plan_grid,
    storage_overage_price,
)
from aether_web.settings import get_settings
from aether_web.state.auth import AuthState

TITLE = "Pricing · aether"
DESCRIPTION = (
    f"Free {dollars(FREE.monthly_price_cents)}, Pro {dollars(PRO.monthly_price_cents)}/month, "
    f"Team {dollars(TEAM.monthly_price_cents)}/month. Overage on paid plans: "
    f"{compute_overage_price()} and {storage_overage_price()}."
)
UPGRADE_URL = routes.BILLING + "?upgrade=1"

# The worked example: a Pro month with some compute and storage over the plan.
EXAMPLE_PLAN = PRO
EXAMPLE_EXTRA_HOURS = 30
EXAMPLE_EXTRA_GB = 2


# A real month: 31 days, 744 hours, so a GB-month is 744 GB-hours.
EXAMPLE_MONTH = date(2027, 1, 1)
EXAMPLE_UPGRADE_DAY = 20


def worked_example(plan: Plan = EXAMPLE_PLAN, *, extra_hours: int = EXAMPLE_EXTRA_HOURS,
                   extra_gb: int = EXAMPLE_EXTRA_GB, month: date = EXAMPLE_MONTH) -> dict:
    """A whole `month` on `plan` that ran `extra_hours` over its compute hours and kept
    `extra_gb` over its storage all month, and the same plan bought on the 20th, priced by
    the period bill every invoice uses (`billing.period_bill`)."""
    from aether_web.billing.allowance import month_hours
    from aether_web.billing.money import format_cents, format_duration
    from aether_web.billing.period_bill import ProjectUsage, build_period_bill
    from aether_web.billing.periods import month_end, month_start
    from aether_web.billing.plan_history import PlanInterval

    hours = plan.compute_hours + extra_hours
    gb = plan.storage_gb + extra_gb
    start, end = month_start(month), month_end(month)
    usage = [ProjectUsage(uuid.UUID(int=1), "example", paid_compute_seconds=hours * 3600,
                          paid_storage_byte_seconds=gb * BYTES_PER_GB
                          * int((end - start).total_seconds()))]
    bill = build_period_bill(user_id=uuid.UUID(int=0), month=month,
                             intervals=[PlanInterval(plan.key, start)], usage=usage, now=end)
    upgrade = start.replace(day=EXAMPLE_UPGRADE_DAY)
    partial = build_period_bill(
        user_id=uuid.UUID(int=0), month=month, usage=[], now=end,
        intervals=[PlanInterval(PlanKey.FREE, start, upgrade), PlanInterval(plan.key, upgrade)])
    days, held = (end - upgrade).days, (end - start).days
    return {
        "plan": plan.name,
        "month": f"{month:%B %Y}",
        "month_days": held,
        "month_hours": month_hours(month),
        "hours": hours,
        "gb": gb,
        "subscription": format_cents(plan.monthly_price_cents),
        "compute_line": f"{extra_hours} h over {plan.compute_hours} h × "
        f"{dollars(COMPUTE_OVERAGE_CENTS_PER_HOUR)}",
        "compute": format_cents(bill.compute_cents),
        "storage_line": f"{extra_gb} GB over {plan.storage_gb} GB for all "
        f"{month_hours(month)} hours of {month:%B} × "
        f"{dollars(STORAGE_OVERAGE_CENTS_PER_GB_MONTH)}",
        "storage": format_cents(bill.storage_cents),
        "overage": format_cents(bill.total_cents),
        "explanation": bill.overage.explanation(),
        "total": format_cents(plan.monthly_price_cents + bill.total_cents),
        "proration": (
            f"Bought on {upgrade:%B} {EXAMPLE_UPGRADE_DAY}, {plan.name} holds {days} of "
            f"{month:%B}'s {held} days, so that month includes {plan.compute_hours} h × "
            f"{days}/{held} = {format_duration(partial.included_compute_seconds)} of compute "
            f"and {plan.storage_gb} GB × {days * 24} h = "
            f"{partial.included_storage_gb_hours.normalize():f} GB-hours of storage."),
    }


FAQ: list[tuple[str, str]] = [
    (
        "What happens when I reach a limit?",
        f"On Free, limits are hard: once you have used {FREE.compute_hours} compute hours in a "
        f"month, VMs won't start until the next month; you can't "
        f"create more than {FREE.max_projects} projects; past {FREE.storage_gb} GB of storage "
        "you get a warning, then new files are blocked. Free never costs anything. On Pro and "
        "Team nothing stops: usage beyond the plan is billed as overage. Everyone sees a "
        "warning at 80% of a limit.",
    ),
    (
        "How is usage measured?",
        "Compute is counted per second from the moment a project's VM starts until it stops, "
        "by our own clock, and added up per calendar month (UTC). Storage is measured in "
        "GB-months: 1 GB kept for the whole of a month is 1 GB-month (744 GB-hours in "
        "January, 672 in February). Your dashboard shows both as they accrue.",
    ),
    (
        "What if I change plans during a month?",
        "A month includes each paid plan's hours and storage in proportion to the time you "
        "held it, and only usage on a paid plan counts against them: Pro bought on January 20 "
        "includes 200 h × 12/31 = 77 h 25 m 10 s that January, and hours used on Free before "
        "do not count.",
    ),
    (
        "When is overage billed?",
        "After each calendar month ends, the overage of that month is added to your invoice: "
        "the usage of that month is reported once, and appears as its own lines next to your "
        "subscription. You are never charged for overage during the month.",
    ),
    (
        "Can I change plans?",
        "Yes. Upgrade from the Billing page at any time; the new limits apply as soon as "
        "Stripe confirms the payment. Switch between paid plans in Stripe's Customer Portal, "
        "opened from the same page.",
    ),
    (
        "How do I cancel?",
        "Open Billing and choose Manage subscription: Stripe's Customer Portal lets you cancel "
        "in two clicks. Your plan stays until the end of the period you paid for, then your "
        "account moves to Free; your projects are kept.",
    ),
    (
        "What if a payment fails?",
        f"We email you and keep your paid plan for {get_settings().grace_period_days} days "
        "while Stripe retries the card. Update the card in the Customer Portal and nothing "
        "changes for you.",
    ),
]


def _plan_action(plan: Plan) -> rx.Component:
    if plan.monthly_price_cents == 0:
        return rx.cond(
            AuthState.signed_in,
            link_button("Go to your projects", width="100%", size="3", variant="soft",
                        href=routes.DASHBOARD),
            link_button("Start free", width="100%", size="3", variant="soft",
                        href=routes.SIGNUP, id=f"pricing-signup-{plan.key}"),
        )
    variant = "solid" if plan.key == PlanKey.PRO else "soft"
    return rx.cond(
        AuthState.signed_in,
        link_button(f"Upgrade to {plan.name}", width="100%", size="3", variant=variant,
                    href=f"{UPGRADE_URL}&plan={plan.key}", id=f"pricing-upgrade-{plan.key}"),
        # The plan key (nothing personal) rides along: Checkout opens for it after sign-up.
        link_button(f"Sign up for {plan.name}", width="100%", size="3", variant=variant,
                    href=f"{routes.SIGNUP}?plan={plan.key}", id=f"pricing-signup-{plan.key}"),
    )


def _overage_prices() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Overage on Pro and Team", size="5", as_="h2"),
            rx.text("Go past your plan and keep working. What you use beyond it costs:",
                    color_scheme="gray"),
            rx.el.ul(
                rx.el.li(rx.text(rx.text.strong(compute_overage_price()),
                                 " beyond the plan's compute hours")),
                rx.el.li(rx.text(rx.text.strong(storage_overage_price()),
                                 " beyond the plan's storage")),
                style={"paddingLeft": "1.25rem", "margin": 0, "listStyle": "disc"},
                id="overage-prices",
            ),
            rx.text("Free has hard limits instead, so it never costs anything.", size="2",
                    color_scheme="gray"),
            spacing="3",
        ),
        size="3",
        width="100%",
    )


def _example_row(label: str, detail: str, amount: str, *, strong: bool = False) -> rx.Component:
    cell = rx.text.strong if strong else rx.text
    return rx.table.row(
        rx.table.row_header_cell(cell(label)),
        rx.table.cell(rx.text(detail, color_scheme="gray", size="2")),
        rx.table.cell(cell(amount), justify="end"),
    )


def _worked_example() -> rx.Component:
    ex = worked_example()
    return rx.card(
        rx.vstack(
            rx.heading("A worked example", size="5", as_="h2"),
            rx.text(
                f"{ex['month']} ({ex['month_days']} days, {ex['month_hours']} hours) on "
                f"{ex['plan']}: your VMs ran {ex['hours']} hours and you kept {ex['gb']} GB "
                "of files all month:",
                color_scheme="gray",
            ),
            rx.table.root(
                rx.table.body(
                    _example_row(f"{ex['plan']} subscription", "the monthly price",
                                 ex["subscription"]),
                    _example_row("Compute overage", ex["compute_line"], ex["compute"]),
                    _example_row("Storage overage", ex["storage_line"], ex["storage"]),
                    _example_row("Invoice total", ex["explanation"], ex["total"], strong=True),
                ),
                width="100%",
                variant="surface",
                id="worked-example",
            ),
            rx.text("Overage is rounded down to the cent. Under your plan's hours and storage, "
                    "the invoice is just the subscription.", size="2", color_scheme="gray"),
            rx.text(ex["proration"], size="2", color_scheme="gray", id="proration-example"),
            spacing="3",
            width="100%",
        ),
        size="3",
        width="100%",
    )


def _faq() -> rx.Component:
    return rx.el.section(
        rx.heading("Questions", size="7", as_="h2", margin_bottom="1rem"),
        rx.vstack(
            *[
                rx.el.details(
                    rx.el.summary(rx.text(q, weight="medium", as_="span"),
                                  style={"cursor": "pointer", "padding": "0.75rem 0"}),
                    rx.text(a, color_scheme="gray", padding_bottom="0.75rem"),
                    border_bottom="1px solid var(--gray-a5)",
                    width="100%",
                )
                for q, a in FAQ
            ],
            spacing="0",
            width="100%",
        ),
        rx.text("More in the docs: ", rx.link("Plans and limits", href="/docs/plans-and-limits"),
                ".", margin_top="1rem"),
        id="faq",
        style={"marginTop": "3rem"},
    )


@rx.page(route=routes.PRICING, title=TITLE, description=DESCRIPTION, image=social_image(),
         meta=social_meta(TITLE, DESCRIPTION, routes.PRICING),
         on_load=AuthState.load_optional_user)
def pricing() -> rx.Component:
    return public_page(
        rx.vstack(
            rx.heading("Pricing", size="9", as_="h1"),
            rx.text("Start free. Pay a flat monthly price when you need more, and only a "
                    "little extra if you go beyond it.", size="5", color_scheme="gray",
                    max_width="40rem"),
            spacing="3",
            padding_y="2rem",
        ),
        plan_grid(_plan_action),
        rx.el.section(
            rx.heading("Compare the plans", size="7", as_="h2", margin_bottom="1rem"),
            comparison_table(),
            id="compare",
            style={"marginTop": "3rem"},
        ),
        rx.grid(
            _overage_prices(),
            _worked_example(),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="5",
            width="100%",
            margin_top="2rem",
        ),
        _faq(),
    )
