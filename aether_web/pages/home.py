"""The landing page."""

from __future__ import annotations

import reflex as rx

from aether_web import routes
from aether_web.components.layout import public_page
from aether_web.state.auth import AuthState


@rx.page(route=routes.HOME, title="aether · cloud development environments",
         on_load=AuthState.load_optional_user)
def home() -> rx.Component:
    return public_page(
        rx.vstack(
            rx.heading("Your whole dev environment, in the cloud.", size="9", as_="h1"),
            rx.text("Every project runs in its own VM. Start coding in seconds.", size="5"),
            rx.link(rx.button("Start free", size="4"), href=routes.SIGNUP),
            spacing="5",
            padding_y="4rem",
        )
    )
