"""The app's plain data table (/billing, the project page, settings, the plan comparison):
rows stack into small labelled cards on narrow screens."""

from __future__ import annotations

import json

import reflex as rx

CELL = {"padding": "0.6rem 0.75rem", "textAlign": "left", "whiteSpace": "nowrap",
        "borderBottom": "1px solid var(--gray-a5)", "fontSize": "var(--font-size-2)"}


STACK_BELOW_PX = 640


def stacked_table_css(table_id: str, headers: list[str]) -> str:
    """Below 640 px each row becomes a small card, every cell labelled with its column's
    header (the header row stays for screen readers), so no table is cut off on a phone."""
    labels = " ".join(
        f"#{table_id} tr > :nth-child({i})::before {{ content: {json.dumps(h)}; }}"
        for i, h in enumerate(headers, start=1))
    return (
        f"@media (max-width: {STACK_BELOW_PX}px) {{"
        f" #{table_id} thead {{ position: absolute; width: 1px; height: 1px; overflow: hidden;"
        " clip: rect(0 0 0 0); }"
        f" #{table_id}, #{table_id} tbody, #{table_id} tr {{ display: block; width: 100%; }}"
        f" #{table_id} tr {{ border-bottom: 1px solid var(--gray-a5); padding: 0.5rem 0; }}"
        f" #{table_id} tr > td, #{table_id} tr > th {{ display: flex; gap: 1rem;"
        " justify-content: space-between; border: 0 !important; white-space: normal !important;"
        " padding: 0.2rem 0.25rem !important; text-align: right !important; }"
        f" #{table_id} tr > ::before {{ font-weight: 600; text-align: left; flex-shrink: 0;"
        " color: var(--gray-11); }"
        f" {labels} }}"
    )


def data_table(headers: list[str], body: rx.Component, *, table_id: str,
               label: str) -> rx.Component:
    """A plain table; on narrow screens its rows stack (see `stacked_table_css`)."""
    return rx.box(
        rx.el.style(stacked_table_css(table_id, headers)),
        rx.el.table(
            rx.el.thead(rx.el.tr(*[rx.el.th(h, scope="col", style={**CELL, "fontWeight": 600})
                                   for h in headers])),
            rx.el.tbody(body),
            id=table_id,
            style={"width": "100%", "borderCollapse": "collapse",
                   "& td, & th[scope=row]": CELL},
        ),
        width="100%",
        role="region",
        aria_label=label,
    )
