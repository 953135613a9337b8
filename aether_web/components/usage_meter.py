"""Usage bars: the full ones on /billing and the compact one in the app header."""

from __future__ import annotations

import reflex as rx

from aether_web import routes


def meter(bar, *, height: str, width: str = "100%", label=None) -> rx.Component:
    """A bar filled to `bar["width"]` percent in the level's colour (an ARIA progressbar)."""
    return rx.box(
        rx.box(height="100%", width=bar["width"] + "%",
               background_color="var(--" + bar["color"] + "-9)", border_radius="9999px",
               transition="width 0.3s ease"),
        role="progressbar",
        aria_valuemin="0",
        aria_valuemax="100",
        aria_valuenow=bar["width"],
        aria_label=label if label is not None else bar["label"] + " used",
        height=height,
        width=width,
        background_color="var(--gray-a4)",
        border_radius="9999px",
        overflow="hidden",
        class_name="usage-meter",
    )


def usage_bar(bar, bar_id: str) -> rx.Component:
    """One resource: label, "used / limit" with the percentage, and a bar coloured by level
    (green, amber from 80%, red at the limit). `bar` is a state dict from `state.usage_view`."""
    return rx.vstack(
        rx.hstack(
            rx.text(bar["label"], weight="medium", id=f"{bar_id}-label"),
            rx.spacer(),
            rx.text(bar["text"], class_name="usage-text", id=f"{bar_id}-text"),
            rx.cond(bar["percent_text"] != "",
                    rx.badge(bar["percent_text"], color_scheme=bar["color"], variant="soft",
                             class_name="usage-percent", id=f"{bar_id}-percent")),
            width="100%",
            align="center",
            spacing="3",
        ),
        meter(bar, height="0.75rem"),
        width="100%",
        spacing="2",
        id=bar_id,
        class_name="usage-bar",
        data_level=bar["level"],
    )


def header_usage(state) -> rx.Component:
    """The compact compute bar in the header, a link to /billing. Loads the usage on mount."""
    return rx.box(
        rx.cond(
            state.usage_loaded,
            rx.link(
                rx.hstack(
                    rx.text("Compute", size="1", color_scheme="gray",
                            display=rx.breakpoints(initial="none", sm="block")),
                    meter(state.compute, height="0.4rem",
                          width=rx.breakpoints(initial="2.5rem", sm="5rem"),
                          label="Compute used this month"),
                    rx.text(state.compute["text"], size="1", id="header-usage-text",
                            white_space="nowrap"),
                    align="center",
                    spacing="2",
                ),
                href=routes.BILLING,
                underline="none",
                color_scheme="gray",
                high_contrast=True,
                aria_label="Compute used this month: " + state.compute["text"]
                + ". Open billing.",
                id="header-usage",
                data_level=state.compute["level"],
            ),
            rx.skeleton(rx.box(width=rx.breakpoints(initial="5rem", sm="10rem"),
                               height="1rem"), loading=True, aria_hidden="true"),
        ),
        on_mount=state.ensure_loaded,
    )
