"""One project's page: its VM (Start/Stop with progress, Open workspace), this month's usage
of the project, its recent runs, rename and delete. Only its owner can open it; anyone else
sees "not found". Everything shown comes with the page's first answer."""

from __future__ import annotations

import reflex as rx

from aether_web import routes
from aether_web.billing.money import format_cents
from aether_web.billing.periods import month_of
from aether_web.components.a11y import link_button
from aether_web.components.banner import banner
from aether_web.components.layout import app_page, skeleton_rows
from aether_web.components.project_dialogs import project_dialogs
from aether_web.components.table import data_table
from aether_web.components.vm_controls import vm_state_badge
from aether_web.db import db_now, transaction
from aether_web.errors import LimitReached, NotFound
from aether_web.integrations.vm_provider import get_vm_provider
from aether_web.services import projects as project_service
from aether_web.services.period_bill import period_bill
from aether_web.services.project_usage import recent_runs
from aether_web.state.auth import AuthState, login_required
from aether_web.state.project_edits import ProjectEditsState
from aether_web.state.project_view import project_view, run_row
from aether_web.state.usage import UsageState
from aether_web.state.usage_view import duration_text, number
from aether_web.state.vm_controls import VMControlsState

BYTES_PER_GB = 10**9


class ProjectState(VMControlsState, ProjectEditsState, AuthState):
    """The project, its month and its runs; the pending VM action and the dialogs."""

    project: dict[str, str] = {}
    status: str = "loading"  # loading | found | missing
    compute_text: str = ""
    storage_text: str = ""
    month_label: str = ""
    paid_month: bool = False
    overage_share: str = "$0.00"
    runs: list[dict[str, str]] = []
    workspace_url: str = ""
    limit_message: str = ""

    def _project_id(self) -> str:
        return self.router.url.path.rstrip("/").rsplit("/", 1)[-1]

    def _reload(self, session) -> None:
        user = self._user(session)
        self._remember(user)
        project = project_service.get_project(session, user_id=user.id,
                                              project_id=self._project_id())
        now = db_now(session).replace(microsecond=0)
        # The month's numbers are the project's line of the period bill, the same one the
        # invoice and /billing use; its overage share is the split that adds up to the bill.
        bill = period_bill(session, user_id=user.id, month=month_of(now), now=now)
        line = next((p for p in bill.projects if p.project_id == project.id), None)
        self.project, self.status = project_view(project), "found"
        self.compute_text = duration_text(
            line.compute_seconds + line.free_compute_seconds if line else 0)
        self.storage_text = f"{number(project.storage_bytes / BYTES_PER_GB)} GB"
        self.paid_month = bill.paid
        self.overage_share = format_cents(line.total_cents if line else 0)
        self.month_label = now.strftime("%B %Y")
        self.runs = [run_row(r) for r in recent_runs(session, user_id=user.id,
                                                     project_id=project.id, now=now)]
        self.workspace_url = (
            get_vm_provider().workspace_url(project_id=str(project.id),
                                            machine_id=project.machine_id or "")
            if project.vm_state == "running" else "")

    @rx.event
    @login_required
    async def load(self):
        """The project, its month and runs, and the header's usage, in one answer."""
        self.status, self.limit_message = "loading", ""
        usage = await self.get_state(UsageState)  # before the transaction: it may await
        try:
            with transaction() as session:
                self._reload(session)
                usage._load_usage(session)
        except NotFound:
            self.project, self.status = {}, "missing"

    def _clear_limit(self) -> None:
        self.limit_message = ""

    def _show_limit(self, exc: LimitReached) -> str:
        self.limit_message = exc.message
        return ""

    @rx.event
    @login_required
    def delete_project(self):
        """Gone: back to the dashboard."""
        project_id, name = self.delete_id, self.delete_name
        self.delete_id = ""
        deleted, notice = self._delete(project_id, name)
        return [notice, rx.redirect(routes.DASHBOARD)] if deleted else notice


def _vm_actions() -> rx.Component:
    pending = ProjectState.vm_pending_id != ""
    action = ProjectState.vm_pending_action
    project_id = ProjectState.project["id"]
    return rx.hstack(
        rx.cond(
            ProjectState.project["vm_state"] == "stopped",
            rx.button(rx.icon("play", size=16), "Start", loading=action == "start",
                      disabled=pending, on_click=ProjectState.start_vm(project_id),
                      id="project-start"),
            rx.button(rx.icon("square", size=16), "Stop", variant="soft", color_scheme="red",
                      loading=action == "stop", disabled=pending,
                      on_click=ProjectState.stop_vm(project_id), id="project-stop"),
        ),
        rx.cond(ProjectState.workspace_url != "",
                rx.button(rx.el.a(rx.icon("external-link", size=16), "Open workspace",
                                  href=ProjectState.workspace_url, target="_blank",
                                  rel="noopener", id="open-workspace"),
                          variant="soft", as_child=True)),
        rx.button(rx.icon("pencil", size=16), "Rename", variant="soft", color_scheme="gray",
                  on_click=ProjectState.open_rename(project_id, ProjectState.project["name"]),
                  id="project-rename"),
        rx.button(rx.icon("trash-2", size=16), "Delete", variant="soft", color_scheme="red",
                  on_click=ProjectState.ask_delete(project_id, ProjectState.project["name"]),
                  id="project-delete"),
        rx.cond(pending, rx.text(rx.cond(action == "start", "Starting the VM…",
                                         "Stopping the VM…"),
                                 size="2", color_scheme="gray", role="status",
                                 id="project-progress")),
        spacing="3", wrap="wrap", align="center",
    )


def _limit_notice() -> rx.Component:
    return rx.cond(
        ProjectState.limit_message != "",
        banner(
            rx.text(ProjectState.limit_message, id="project-limit-message"),
            link_button("Upgrade", size="1", href=routes.BILLING + "?upgrade=1"),
            icon="info", color_scheme="violet", high_contrast=True, role="status", width="100%",
        ),
    )


def _figure(label: str, value, figure_id: str, note=None) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(label, size="2", color_scheme="gray"),
            rx.heading(value, size="6", as_="p", id=figure_id),
            *([rx.text(note, size="1", color_scheme="gray")] if note is not None else []),
            spacing="1",
        ),
        width="100%",
    )


def _usage() -> rx.Component:
    return rx.vstack(
        rx.heading("This month", size="5", as_="h2"),
        rx.grid(
            _figure("Compute", ProjectState.compute_text, "project-compute",
                    ProjectState.month_label),
            _figure("Storage now", ProjectState.storage_text, "project-storage"),
            rx.cond(ProjectState.paid_month,
                    _figure("Its share of the overage", ProjectState.overage_share,
                            "project-overage", "so far this month, split by usage"),
                    _figure("Overage", "$0.00", "project-overage",
                            "Free never pays overage")),
            columns=rx.breakpoints(initial="1", sm="3"),
            spacing="4",
            width="100%",
        ),
        rx.text("Your plan's hours and storage are shared by all your projects; ",
                rx.link("Billing", href=routes.BILLING), " has the month's bill.",
                size="2", color_scheme="gray"),
        width="100%", spacing="3", id="project-usage",
    )


def _run_row(row: dict) -> rx.Component:
    return rx.el.tr(rx.el.td(row["started"]), rx.el.td(row["ended"]),
                    rx.el.td(row["duration"], class_name="run-duration"), rx.el.td(row["how"]),
                    class_name="run-row")


def _runs() -> rx.Component:
    return rx.vstack(
        rx.heading("Recent runs", size="5", as_="h2"),
        rx.cond(ProjectState.runs.length() > 0,
                data_table(["Started", "Ended", "Duration", "How it ended"],
                           rx.foreach(ProjectState.runs, _run_row), table_id="project-runs",
                           label="Recent runs of this project"),
                rx.text("No runs yet. Press Start and the VM's runs show up here.",
                        color_scheme="gray", id="no-runs")),
        width="100%", spacing="3",
    )


@rx.page(route=routes.PROJECT, title="Project · aether", on_load=ProjectState.load)
def project_page() -> rx.Component:
    return app_page(
        rx.match(
            ProjectState.status,
            ("found", rx.vstack(
                rx.link("← All projects", href=routes.DASHBOARD),
                rx.hstack(
                    rx.heading(ProjectState.project["name"], size="7", as_="h1",
                               id="project-title", class_name="ellipsis",
                               title=ProjectState.project["name"]),
                    vm_state_badge(ProjectState.project["vm_state"], size="2",
                                   id="project-vm-state"),
                    align="center", spacing="3", width="100%", min_width="0",
                ),
                rx.text("Machine " + ProjectState.project["machine_type"] + " · created "
                        + ProjectState.project["created"], size="2", color_scheme="gray"),
                _vm_actions(),
                _limit_notice(),
                _usage(),
                _runs(),
                spacing="4", width="100%",
            )),
            ("missing", rx.vstack(
                rx.heading("Project not found", size="6", as_="h1", id="project-missing"),
                rx.text("It doesn't exist, was deleted, or belongs to another account."),
                link_button("Back to your projects", href=routes.DASHBOARD),
                spacing="3",
            )),
            skeleton_rows(3),
        ),
        project_dialogs(ProjectState, id_prefix="project-"),
    )
