"""The site-wide "page not found": where to go from here, in the public site's frame."""

from __future__ import annotations

import reflex as rx

from aether_web import routes
from aether_web.components.a11y import link_button
from aether_web.components.layout import public_page
from aether_web.state.auth import AuthState


@rx.page(route="404", title="Page not found · aether", on_load=AuthState.load_optional_user)
def not_found() -> rx.Component:
    return public_page(
        rx.vstack(
            rx.text("404", size="2", weight="bold", color_scheme="gray"),
            rx.heading("We couldn't find that page", as_="h1", size="8", id="not-found"),
            rx.text("The link may be old or mistyped. These are good places to go on:",
                    color_scheme="gray", size="4"),
            rx.hstack(
                rx.cond(AuthState.signed_in,
                        link_button("Your projects", href=routes.DASHBOARD, size="3"),
                        link_button("Home", href=routes.HOME, size="3")),
                link_button("Pricing", href=routes.PRICING, size="3", variant="soft"),
                link_button("Docs", href=routes.DOCS, size="3", variant="soft"),
                spacing="3",
                wrap="wrap",
            ),
            spacing="4",
            padding_y="3rem",
        ),
        max_width="48rem",
    )
