"""The plans as visitors see them, always from the one catalogue (`aether_web.billing.plans`)."""

from __future__ import annotations

from decimal import Decimal

import reflex as rx

from aether_web.billing.plans import (
    COMPUTE_OVERAGE_CENTS_PER_HOUR,
    PLANS,
    STORAGE_OVERAGE_CENTS_PER_GB_MONTH,
    Plan,
    PlanKey,
)
from aether_web.components.table import data_table


def dollars(cents: int | Decimal) -> str:
    """Prices for people: 2000 -> "$20", 0 -> "$0", 10 -> "$0.10", 150050 -> "$1,500.50"."""
    value = Decimal(cents)
    whole, rest = divmod(abs(value), 100)
    sign = "-" if value < 0 else ""
    if rest == 0:
        return f"{sign}${int(whole):,}"
    return f"{sign}${int(whole):,}.{int(rest):02d}"


def compute_overage_price() -> str:
    """"$0.10 per compute hour"."""
    return f"{dollars(COMPUTE_OVERAGE_CENTS_PER_HOUR)} per compute hour"


def storage_overage_price() -> str:
    """"$0.50 per GB-month"."""
    return f"{dollars(STORAGE_OVERAGE_CENTS_PER_GB_MONTH)} per GB-month"


def projects_text(plan: Plan) -> str:
    if plan.max_projects is None:
        return "Unlimited projects"
    return f"{plan.max_projects} projects"


def plan_features(plan: Plan) -> list[str]:
    """The lines of a plan card, in the order people compare plans."""
    lines = [
        f"{plan.compute_hours:,} compute hours a month",
        f"{plan.storage_gb:,} GB storage",
        projects_text(plan),
    ]
    if plan.is_paid:
        lines.append(
            f"Over the plan? Keep going: {compute_overage_price()}, {storage_overage_price()}"
        )
    else:
        lines.append("Hard limits: you are never charged")
    return lines


def comparison_rows() -> list[tuple[str, list[str]]]:
    """The pricing page's comparison table, feature by feature across every plan of the
    catalogue (a new plan or a changed price shows up by itself)."""
    plans = list(PLANS.values())

    def each(fn) -> list[str]:
        return [fn(p) for p in plans]

    return [
        ("Price", each(lambda p: f"{dollars(p.monthly_price_cents)} a month")),
        ("Compute included", each(lambda p: f"{p.compute_hours:,} hours a month")),
        ("Storage included", each(lambda p: f"{p.storage_gb:,} GB")),
        ("Projects", each(lambda p: "Unlimited" if p.max_projects is None
                          else f"Up to {p.max_projects}")),
        ("Past the included compute", each(lambda p: compute_overage_price() if p.is_paid
                                           else "VMs stop until the 1st")),
        ("Past the included storage", each(lambda p: storage_overage_price() if p.is_paid
                                           else "New writes refused")),
        ("Can you be charged more?", each(lambda p: "Only for overage you use" if p.is_paid
                                          else "Never")),
        ("Usage counted", each(lambda p: "Per second")),
        ("Billing period", each(lambda p: "Calendar month (UTC)" if p.monthly_price_cents
                                else "None: free")),
    ]


def comparison_table() -> rx.Component:
    """`comparison_rows` as a table (its rows stack on a phone)."""
    rows = comparison_rows()
    return data_table(
        ["What you get", *[p.name for p in PLANS.values()]],
        rx.fragment(*[
            rx.el.tr(rx.el.th(label, scope="row", style={"fontWeight": 500}),
                     *[rx.el.td(value) for value in values])
            for label, values in rows
        ]),
        table_id="plan-comparison", label="Plans compared",
    )


def plan_summary(plan: Plan) -> dict:
    """Everything a plan card shows, as plain values (tests read this too)."""
    return {
        "key": plan.key,
        "name": plan.name,
        "price": dollars(plan.monthly_price_cents),
        "period": "/month",
        "tagline": plan.tagline,
        "features": plan_features(plan),
    }


def plan_card(plan: Plan, action: rx.Component, *, highlighted: bool = False) -> rx.Component:
    """One plan: name, price, what is included, and the caller's action button."""
    info = plan_summary(plan)
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(info["name"], size="5", as_="h3"),
                *([rx.badge("Most popular", variant="solid")] if highlighted else []),
                justify="between",
                align="center",
                width="100%",
            ),
            rx.text(info["tagline"], size="2", color_scheme="gray"),
            rx.hstack(
                rx.text(info["price"], size="8", weight="bold", class_name="plan-price"),
                rx.text(info["period"], size="2", color_scheme="gray"),
                align="baseline",
                spacing="1",
            ),
            rx.el.ul(
                *[
                    rx.el.li(
                        rx.hstack(
                            rx.icon("check", size=16, aria_hidden="true", flex_shrink="0",
                                    margin_top="0.2rem"),
                            rx.text(line, size="2"),
                            spacing="2",
                            align="start",
                        ),
                        list_style="none",
                    )
                    for line in info["features"]
                ],
                style={"padding": 0, "margin": 0, "display": "grid", "gap": "0.5rem"},
            ),
            rx.spacer(),
            action,
            spacing="4",
            height="100%",
        ),
        size="3",
        id=f"plan-{plan.key}",
        class_name="plan-card",
        style={"border": "2px solid var(--accent-9)"} if highlighted else {},
    )


def plan_grid(action_for, *, highlight: str = PlanKey.PRO) -> rx.Component:
    """The three plans side by side (stacked on small screens). `action_for(plan)` gives each
    card its button."""
    return rx.grid(
        *[plan_card(p, action_for(p), highlighted=p.key == highlight) for p in PLANS.values()],
        columns=rx.breakpoints(initial="1", md="3"),
        spacing="5",
        width="100%",
        id="plans",
    )
