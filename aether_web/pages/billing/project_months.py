"""/billing's usage per project: the months it can show (the history's), the chosen one, and
each month's lines, computed when first asked for."""

from __future__ import annotations

import asyncio

import reflex as rx

from aether_web.pages.billing import overview
from aether_web.state.auth import login_required


class ProjectMonthsMixin(rx.State, mixin=True):
    """The per-project lines by month, for `BillingState` (an `AuthState` with a history)."""

    project_months: list[dict[str, str]] = []  # {"key", "label"}, newest first
    project_month: str = ""
    project_rows: list[dict[str, str]] = []  # the months' lines so far, each with its "month"
    projects_loaded: bool = False

    def _months_from_history(self) -> None:
        """The months the per-project lines can show: the history's."""
        self.project_months = [{"key": row["key"], "label": row["month"]}
                               for row in self.history]  # type: ignore[attr-defined]
        if self.project_month not in {m["key"] for m in self.project_months}:
            self.project_month = self.project_months[0]["key"] if self.project_months else ""

    @rx.var
    def project_rows_shown(self) -> list[dict[str, str]]:
        """The chosen month's lines."""
        return [row for row in self.project_rows if row["month"] == self.project_month]

    @rx.event
    def choose_project_month(self, key: str):
        """Show another month's projects; its bill is computed when first asked for."""
        self.project_month = key
        if not any(row["month"] == key for row in self.project_rows):
            self.projects_loaded = False
            return type(self).load_project_month
        return None

    @rx.event(background=True)
    @login_required
    async def load_project_month(self):
        """The chosen month's per-project lines, off the event loop and the state lock."""
        async with self:
            user_id = self._current_user_id()  # type: ignore[attr-defined]
            key = self.project_month
        lines = await asyncio.to_thread(overview.project_rows, user_id, [key])
        async with self:
            self.project_rows = [r for r in self.project_rows if r["month"] != key] + lines
            self.projects_loaded = True
