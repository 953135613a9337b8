"""The app-wide notice ("flash") that says how an action went: "Project renamed.", "…was not
deleted: …". Handlers return `FlashState.show(kind, message)`; `components.flash` renders it
in every signed-in page. State, not a script the page runs, so the CSP needs no eval."""

from __future__ import annotations

import reflex as rx

KINDS = ("success", "error")


class FlashState(rx.State):
    """The last notice. `count` grows with each one, so the page draws a new element (and
    restarts its fade) even when the same words come twice."""

    message: str = ""
    kind: str = "success"  # success | error
    count: int = 0

    @rx.event
    def show(self, kind: str, message: str) -> None:
        """Say `message`, as a success or an error (anything else is said as an error)."""
        self.kind = kind if kind in KINDS else "error"
        self.message = str(message)
        self.count += 1

    @rx.event
    def dismiss(self, count: int) -> None:
        """Notice `count` is gone: closed by the user, or faded out (so the next page doesn't
        say it again). A later notice stays."""
        if int(count) == self.count:
            self.message = ""
