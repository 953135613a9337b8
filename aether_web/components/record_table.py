"""The support console's tables: rows of text picked by key, a line of text when there are
none, and optionally an action button per row. Built on the app's `data_table`, so on a phone
the rows stack into labelled cards like every other table."""

from __future__ import annotations

import reflex as rx

from aether_web.components.table import data_table


def record_table(rows, columns: list[tuple[str, str]], *, empty: str, id_: str,
                 label: str, action=None) -> rx.Component:
    """A table of string rows; `columns` are (key, heading); `action(row)` adds a last cell."""
    headers = [title for _, title in columns] + (["Action"] if action is not None else [])

    def row(item) -> rx.Component:
        cells = [rx.el.td(item[key]) for key, _ in columns]
        if action is not None:
            cells.append(rx.el.td(action(item)))
        return rx.el.tr(*cells)

    return rx.cond(
        rows.length() > 0,
        data_table(headers, rx.foreach(rows, row), table_id=id_,
                   label=label),
        rx.text(empty, color_scheme="gray", size="2", id=f"{id_}-empty"),
    )
