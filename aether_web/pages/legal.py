"""Terms of Service and Privacy Policy, written in docs/legal/*.md."""

from __future__ import annotations

import reflex as rx

from aether_web import routes
from aether_web.components.head import social_image, social_meta
from aether_web.components.layout import public_page
from aether_web.components.prose import prose
from aether_web.content import Doc, load_legal
from aether_web.state.auth import AuthState

TERMS = load_legal("terms")
PRIVACY = load_legal("privacy")


def _legal(doc: Doc) -> rx.Component:
    return public_page(
        rx.el.article(
            rx.heading(doc.title, size="8", as_="h1", margin_bottom="1rem"),
            prose(doc.html),
        ),
        max_width="52rem",
    )


def _register(doc: Doc, route: str) -> None:
    title = f"{doc.title} · aether"

    def render() -> rx.Component:
        return _legal(doc)

    render.__name__ = f"legal_{doc.slug}"
    rx.page(route=route, title=title, description=doc.summary, image=social_image(),
            meta=social_meta(title, doc.summary, route),
            on_load=AuthState.load_optional_user)(render)


_register(TERMS, routes.TERMS)
_register(PRIVACY, routes.PRIVACY)
