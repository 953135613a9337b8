"""The landing page: what aether is, how it works, the plans, and a way in."""

from __future__ import annotations

import reflex as rx

from aether_web import routes
from aether_web.billing.plans import FREE, Plan, PlanKey
from aether_web.components.a11y import link_button
from aether_web.components.head import social_image, social_meta
from aether_web.components.layout import public_page
from aether_web.components.plans import plan_grid
from aether_web.components.usage_meter import usage_bar
from aether_web.state.auth import AuthState

TITLE = "aether · cloud development environments, one VM per project"
DESCRIPTION = (
    "Code in a full Linux VM for every project, from any browser. Start free with "
    f"{FREE.compute_hours} compute hours a month; upgrade only when you need more."
)

FEATURES = [
    ("server", "A real VM for every project",
     "Each project gets its own isolated virtual machine: install anything, run services, "
     "keep your files between sessions."),
    ("zap", "Start coding in seconds",
     "Create a project, press Start and your environment is up. Stop it when you're done and "
     "it stops counting."),
    ("gauge", "Pay for what you run",
     "Compute is measured per second while a VM runs. See your usage as it happens, with a "
     "warning long before any limit."),
]

STEPS = [
    ("Sign up free", "No card needed. The Free plan is yours for as long as you like."),
    ("Create a project", "Name it; aether prepares a VM just for that project."),
    ("Start and build", "Start the VM, code, stop it. Usage appears on your dashboard."),
]


def _feature(icon: str, title: str, text: str) -> rx.Component:
    return rx.vstack(
        rx.box(rx.icon(icon, size=22, aria_hidden="true"), color="var(--accent-11)",
               background="var(--accent-a3)", border_radius="var(--radius-3)", padding="0.6rem"),
        rx.heading(title, size="4", as_="h3"),
        rx.text(text, color_scheme="gray"),
        spacing="3",
    )


def _step(number: int, title: str, text: str) -> rx.Component:
    return rx.hstack(
        rx.center(rx.text(str(number), weight="bold"), width="2.25rem", height="2.25rem",
                  border_radius="50%", background="var(--accent-9)", color="white",
                  flex_shrink="0"),
        rx.vstack(rx.heading(title, size="4", as_="h3"), rx.text(text, color_scheme="gray"),
                  spacing="1"),
        spacing="4",
        align="start",
    )


def _hero() -> rx.Component:
    return rx.vstack(
        rx.heading("Your whole dev environment, in the cloud.", as_="h1",
                   size=rx.breakpoints(initial="8", md="9"), id="hero-title"),
        rx.text("Every project runs in its own VM. Open a browser, start coding in seconds, "
                "and stop paying attention to your laptop's setup.",
                size=rx.breakpoints(initial="4", md="5"), color_scheme="gray", max_width="40rem"),
        rx.hstack(
            rx.cond(
                AuthState.signed_in,
                link_button("Go to your projects", size="4", href=routes.DASHBOARD),
                link_button("Start free", size="4", href=routes.SIGNUP, id="hero-signup"),
            ),
            link_button("See pricing", size="4", variant="soft", href=routes.PRICING,
                        id="hero-pricing"),
            spacing="3",
            wrap="wrap",
        ),
        rx.text(f"Free forever: {FREE.compute_hours} compute hours a month, "
                f"{FREE.max_projects} projects, {FREE.storage_gb} GB. No card required.",
                size="2", color_scheme="gray"),
        spacing="5",
        padding_y=rx.breakpoints(initial="2.5rem", md="5rem"),
        align="start",
    )


def _section(title: str, *children: rx.Component, id_: str) -> rx.Component:
    return rx.el.section(
        rx.vstack(rx.heading(title, size="7", as_="h2"), *children, spacing="5", width="100%"),
        id=id_,
        style={"paddingTop": "3rem", "paddingBottom": "1rem"},
    )


def _plan_action(plan: Plan) -> rx.Component:
    label = "Start free" if plan.monthly_price_cents == 0 else f"Choose {plan.name}"
    return link_button(label, width="100%", size="3",
                       variant="solid" if plan.key == PlanKey.PRO else "soft", href=routes.SIGNUP)


# The product preview: the dashboard drawn with the app's own pieces and sample data (a live
# render, so it never goes stale the way a screenshot does).
PREVIEW_PROJECTS = (("storefront", "running", "2 h 15 min"), ("api-server", "stopped", "48 min"),
                    ("café-menu", "stopped", "5 min"))
PREVIEW_COMPUTE = {"label": "Compute", "used": "3", "limit": "200", "text": "3 / 200 h",
                   "percent": "2", "percent_text": "2%", "width": "2", "level": "ok",
                   "color": "grass"}


def _preview_project(name: str, state: str, used: str) -> rx.Component:
    running = state == "running"
    return rx.card(
        rx.flex(
            rx.vstack(rx.text(name, weight="bold", size="3", class_name="ellipsis"),
                      rx.text(f"{used} this month", size="1", color_scheme="gray"),
                      spacing="1", min_width="0", flex="1 1 8rem"),
            rx.badge(state, color_scheme="grass" if running else "gray", variant="soft"),
            rx.box(rx.text("Stop" if running else "Start", size="2"),
                   padding="0.2rem 0.75rem", border_radius="var(--radius-2)",
                   background="var(--red-a3)" if running else "var(--accent-a3)",
                   color="var(--red-11)" if running else "var(--accent-11)"),
            align="center", gap="3", wrap="wrap", width="100%",
        ),
        size="1",
        width="100%",
    )


def _preview() -> rx.Component:
    """The dashboard as a signed-in user sees it, inert (it is a picture, not a control)."""
    return rx.box(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.icon("hammer", size=16, aria_hidden="true"),
                    rx.text("Projects", weight="bold"),
                    rx.spacer(),
                    rx.badge("PRO", variant="soft"),
                    align="center", width="100%",
                ),
                usage_bar(PREVIEW_COMPUTE, "preview-compute"),
                *[_preview_project(*p) for p in PREVIEW_PROJECTS],
                spacing="3", width="100%",
            ),
            size="3",
            width="100%",
        ),
        role="img",
        aria_label="Preview of the aether dashboard: three projects, one running, and this "
                   "month's compute hours against the plan",
        custom_attrs={"inert": ""},
        id="product-preview",
        max_width="34rem",
        width="100%",
        margin_top="2.5rem",
        box_shadow="0 12px 40px var(--gray-a5)",
        border_radius="var(--radius-4)",
    )


@rx.page(route=routes.HOME, title=TITLE, description=DESCRIPTION, image=social_image(),
         meta=social_meta(TITLE, DESCRIPTION, routes.HOME),
         on_load=AuthState.load_optional_user)
def home() -> rx.Component:
    return public_page(
        _hero(),
        _preview(),
        _section(
            "Why aether",
            rx.grid(*[_feature(*f) for f in FEATURES],
                    columns=rx.breakpoints(initial="1", md="3"), spacing="6", width="100%"),
            id_="features",
        ),
        _section(
            "How it works",
            rx.grid(*[_step(i + 1, *s) for i, s in enumerate(STEPS)],
                    columns=rx.breakpoints(initial="1", md="3"), spacing="6", width="100%"),
            id_="how-it-works",
        ),
        _section(
            "Simple plans",
            rx.text("Start on Free. Move to Pro or Team when you need more hours, storage or "
                    "projects; cancel any time.", color_scheme="gray"),
            plan_grid(_plan_action),
            rx.link("Compare plans and see how overage works →", href=routes.PRICING + "#compare",
                    id="plans-more"),
            id_="plans-section",
        ),
        rx.card(
            rx.flex(
                rx.vstack(
                    rx.heading("Ready to build?", size="6", as_="h2"),
                    rx.text("Create your account and start your first VM in under a minute.",
                            color_scheme="gray"),
                    spacing="2",
                ),
                rx.spacer(),
                link_button("Create a free account", size="4", href=routes.SIGNUP,
                            id="cta-signup"),
                direction=rx.breakpoints(initial="column", md="row"),
                align=rx.breakpoints(initial="start", md="center"),
                gap="4",
                width="100%",
            ),
            size="4",
            margin_top="4rem",
            width="100%",
        ),
    )
