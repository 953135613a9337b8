"""The app-wide notice of `state.flash.FlashState`, at the bottom of every signed-in page.
Successes in a polite live region (role=status), errors in role=alert; both regions are
always in the page, so a screen reader hears what appears in them. The notice fades out after
six seconds by CSS alone (`.flash` in assets/styles.css; with `prefers-reduced-motion` it
stays until closed) and then tells the state, so the next page doesn't show it again."""

from __future__ import annotations

import reflex as rx
from reflex.event import EventHandler, no_args_event_spec

from aether_web.state.flash import FlashState


class _FadingNotice(rx.el.Div):
    """A div that tells the state when its CSS animation has ended."""

    on_animation_end: EventHandler[no_args_event_spec]


def _notice(kind: str) -> rx.Component:
    return _FadingNotice.create(
        rx.icon("circle-check" if kind == "success" else "circle-alert", size=18,
                class_name="flash-icon", aria_hidden="true", flex_shrink="0",
                margin_top="0.125rem"),
        rx.text(FlashState.message, size="2", class_name="flash-text", id="flash-message"),
        rx.icon_button(rx.icon("x", size=16), variant="ghost", color_scheme="gray",
                       size="1", aria_label="Close notice", id="flash-close",
                       on_click=FlashState.dismiss(FlashState.count)),
        id="flash",
        class_name=f"flash flash-{kind}",
        key=FlashState.count,  # a new notice is a new element: its fade starts over
        on_animation_end=FlashState.dismiss(FlashState.count),
    )


def flash() -> rx.Component:
    """The two live regions and, in the one of its kind, the current notice."""
    shown = FlashState.message != ""
    return rx.fragment(
        rx.el.div(rx.cond(shown & (FlashState.kind == "success"), _notice("success")),
                  role="status", aria_live="polite", id="flash-status"),
        rx.el.div(rx.cond(shown & (FlashState.kind == "error"), _notice("error")),
                  role="alert", id="flash-alert"),
    )
