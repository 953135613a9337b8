"""Account settings (/settings): name, email (changed only once the new address is
confirmed), password, signed-in sessions, and deleting the account. The state is in `state`,
the sections in `sections`."""

from __future__ import annotations

import reflex as rx

from aether_web import routes
from aether_web.components.layout import app_page, skeleton_rows
from aether_web.pages.settings.sections import (
    delete_section,
    email_section,
    name_section,
    password_section,
    sessions_section,
)
from aether_web.pages.settings.state import SettingsState


@rx.page(route=routes.SETTINGS, title="Settings · aether", on_load=SettingsState.load)
def settings_page() -> rx.Component:
    return app_page(
        rx.vstack(
            rx.heading("Account settings", size="7", as_="h1"),
            rx.cond(
                SettingsState.loaded,
                rx.vstack(name_section(), email_section(), password_section(),
                          sessions_section(), delete_section(), spacing="4", width="100%"),
                skeleton_rows(4),
            ),
            spacing="4", width="100%", max_width="48rem",
        )
    )
