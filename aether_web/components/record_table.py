"""The support console's tables: rows of text picked by key, a line of text when there are
none, and optionally an action button per row."""

from __future__ import annotations

import reflex as rx


def record_table(rows, columns: list[tuple[str, str]], *, empty: str, id_: str,
               action=None) -> rx.Component:
    """A table of string rows; `columns` are (key, heading); `action(row)` adds a last cell."""
    headings = [rx.table.column_header_cell(title) for _, title in columns]
    if action is not None:
        headings.append(rx.table.column_header_cell(rx.el.span("Action", class_name="sr-only")))

    def row(item) -> rx.Component:
        cells = [rx.table.cell(rx.text(item[key], size="2")) for key, _ in columns]
        if action is not None:
            cells.append(rx.table.cell(action(item)))
        return rx.table.row(*cells)

    return rx.cond(
        rows.length() > 0,
        rx.box(
            rx.table.root(rx.table.header(rx.table.row(*headings)),
                          rx.table.body(rx.foreach(rows, row)),
                          variant="surface", size="1", id=id_),
            overflow_x="auto",
            width="100%",
        ),
        rx.text(empty, color_scheme="gray", size="2", id=f"{id_}-empty"),
    )
