"""The docs: /docs lists every page of docs/site, /docs/<slug> shows one.

Each Markdown file becomes its own prerendered page (fast, in the sitemap); /docs/[slug] only
catches slugs that have no file and says so kindly.
"""

from __future__ import annotations

import reflex as rx

from aether_web import routes
from aether_web.components.head import social_image, social_meta
from aether_web.components.layout import public_page
from aether_web.components.prose import prose
from aether_web.content import DOCS_SECTIONS, Doc, load_docs
from aether_web.state.auth import AuthState

DOCS = load_docs()
INDEX_TITLE = "Docs · aether"
INDEX_DESCRIPTION = "How to use aether: getting started, plans and limits, usage, billing, " \
    "the usage-hook contract, self-hosting and running it in production."


def doc_path(doc: Doc) -> str:
    return f"{routes.DOCS}/{doc.slug}"


def _section_docs(section: str) -> list[Doc]:
    return [doc for doc in DOCS if doc.section == section]


def _nav(current: str = "") -> rx.Component:
    """Two menus: for people building on aether, and for the operators running it."""
    groups = []
    for section in DOCS_SECTIONS:
        slug = section.lower().replace(" ", "-")
        groups.append(rx.box(
            rx.heading(section, size="2", as_="h2", color_scheme="gray",
                       margin_bottom="0.5rem", id=f"nav-{slug}"),
            rx.el.ul(
                *[
                    rx.el.li(
                        rx.link(
                            doc.title,
                            href=doc_path(doc),
                            size="2",
                            weight="bold" if doc.slug == current else "regular",
                            high_contrast=doc.slug == current,
                            aria_current="page" if doc.slug == current else None,
                        ),
                        list_style="none",
                        padding_y="0.25rem",
                    )
                    for doc in _section_docs(section)
                ],
                style={"padding": 0, "margin": 0},
                aria_labelledby=f"nav-{slug}",
            ),
            margin_bottom="1.5rem",
            class_name="docs-menu",
        ))
    return rx.el.nav(*groups, aria_label="Documentation", style={"minWidth": "13rem"})


def _layout(*children: rx.Component, current: str = "") -> rx.Component:
    return public_page(
        rx.flex(
            rx.box(_nav(current), display=rx.breakpoints(initial="none", md="block")),
            rx.box(*children, flex="1", min_width="0"),
            gap="3rem",
            width="100%",
        )
    )


@rx.page(route=routes.DOCS, title=INDEX_TITLE, description=INDEX_DESCRIPTION,
         image=social_image(), meta=social_meta(INDEX_TITLE, INDEX_DESCRIPTION, routes.DOCS),
         on_load=AuthState.load_optional_user)
def docs_index() -> rx.Component:
    return public_page(
        rx.heading("Documentation", size="8", as_="h1"),
        rx.text("Using aether: building, usage and billing. Running aether: the usage hooks, "
                "self-hosting, deployment and monitoring.", size="4", color_scheme="gray",
                margin_top="0.5rem"),
        rx.box(*[_index_section(section) for section in DOCS_SECTIONS], id="docs-list"),
    )


def _index_section(section: str) -> rx.Component:
    return rx.el.section(
        rx.heading(section, size="6", as_="h2", margin_top="2.5rem"),
        rx.grid(
            *[
                rx.link(
                    rx.card(
                        rx.vstack(
                            rx.heading(doc.title, size="4", as_="h3"),
                            rx.text(doc.summary, size="2", color_scheme="gray"),
                            spacing="2",
                        ),
                        height="100%",
                        class_name="doc-card",
                    ),
                    href=doc_path(doc),
                    underline="none",
                    color_scheme="gray",
                    high_contrast=True,
                )
                for doc in _section_docs(section)
            ],
            columns=rx.breakpoints(initial="1", sm="2", lg="3"),
            spacing="4",
            margin_top="1rem",
        ),
        class_name="docs-section",
    )


def _doc_page(doc: Doc):
    def render() -> rx.Component:
        return _layout(
            rx.el.article(
                rx.text(doc.section, size="2", color_scheme="gray", weight="medium"),
                rx.heading(doc.title, size="8", as_="h1", margin_bottom="1rem"),
                prose(doc.html),
                rx.text(f"Last updated {doc.updated}." if doc.updated else "", size="2",
                        color_scheme="gray", margin_top="2rem", class_name="doc-updated"),
            ),
            current=doc.slug,
        )

    render.__name__ = f"doc_{doc.slug.replace('-', '_')}"
    return render


for _doc in DOCS:
    _title = f"{_doc.title} · aether docs"
    rx.page(route=doc_path(_doc), title=_title, description=_doc.summary or INDEX_DESCRIPTION,
            image=social_image(), meta=social_meta(_title, _doc.summary, doc_path(_doc)),
            on_load=AuthState.load_optional_user)(_doc_page(_doc))


@rx.page(route=routes.DOCS + "/[slug]", title="Page not found · aether docs",
         on_load=AuthState.load_optional_user)
def doc_not_found() -> rx.Component:
    return _layout(
        rx.vstack(
            rx.heading("We couldn't find that page", size="8", as_="h1"),
            rx.text("The docs page you asked for doesn't exist, or has moved. These are the "
                    "pages we have:", color_scheme="gray"),
            rx.el.ul(
                *[rx.el.li(rx.link(d.title, href=doc_path(d))) for d in DOCS],
                style={"paddingLeft": "1.25rem"},
            ),
            rx.link("← All docs", href=routes.DOCS),
            spacing="4",
            id="doc-not-found",
        )
    )
