"""A banner above a page's content: a callout whose text and buttons sit on one line and wrap
under each other on a phone."""

from __future__ import annotations

import reflex as rx


def banner(*children: rx.Component, spacing: str = "3", **callout_props) -> rx.Component:
    """`children` in a row that wraps; `callout_props` are the callout's (icon, color_scheme,
    role, id, ...)."""
    return rx.callout(rx.hstack(*children, align="center", spacing=spacing, wrap="wrap"),
                      **callout_props)
