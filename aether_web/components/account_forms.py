"""The pieces of the account pages (log-in, sign-up, the emailed links): a centred card with
the page's title, its fields, and a plain form the browser posts to `/api/auth/...` itself, so
the answer can set the HttpOnly session cookie."""

from __future__ import annotations

import reflex as rx

from aether_web.components.layout import public_page
from aether_web.components.native_form import native_form
from aether_web.services.passwords import TOO_COMMON, TOO_SHORT

# What every account form says for the error codes the API's redirect carries (`?error=`);
# each page adds its own.
FORM_ERRORS = {
    "weak_password": TOO_SHORT,
    "common_password": TOO_COMMON,
    "malformed_json": "Something went wrong sending the form. Please try again.",
}


def form_card(title: str, *children: rx.Component) -> rx.Component:
    """A public page holding one card: the title (the page's h1), then `children`."""
    return public_page(
        rx.center(
            rx.card(
                rx.vstack(rx.heading(title, size="6", as_="h1"), *children, spacing="4"),
                width="100%",
                max_width="26rem",
                size="3",
            ),
            padding_y="2rem",
        )
    )


def form_field(label: str, name: str, type_: str, **props) -> rx.Component:
    """A labelled input; its id and form name are `name`."""
    return rx.vstack(
        rx.el.label(label, html_for=name, style={"fontWeight": 500, "fontSize": "0.9rem"}),
        rx.input(id=name, name=name, type=type_, width="100%", size="3", **props),
        spacing="1",
        width="100%",
    )


def post_form(action: str, *children: rx.Component) -> rx.Component:
    """The fields and buttons in `children`, posted by the browser to `action`.

    `data-loaded` turns "true" once the page's state has arrived (its on_load ran): the
    remembered email fills in then, and a browser test that types before it races that
    fill (a field typed into while it fills holds both)."""
    return native_form(
        rx.vstack(*children, spacing="4", width="100%"),
        action=action,
        method="post",
        width="100%",
        custom_attrs={"data-loaded": rx.cond(rx.State.is_hydrated, "true", "false")},
    )


def submit_button(label: str) -> rx.Component:
    return rx.button(label, type="submit", size="3", width="100%", id="submit")
