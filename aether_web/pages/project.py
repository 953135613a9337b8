"""One project's page: its VM (Start/Stop with progress, Open workspace), this month's usage
of the project, its recent runs, rename and delete. Only its owner can open it; anyone else
sees "not found". Everything shown comes with the page's first answer."""

from __future__ import annotations

import asyncio
import uuid

import reflex as rx

from aether_web import routes
from aether_web.billing.money import format_cents
from aether_web.billing.periods import month_of
from aether_web.components.a11y import link_button
from aether_web.components.layout import app_page, skeleton_rows
from aether_web.components.table import data_table
from aether_web.db import db_now, transaction
from aether_web.errors import AetherError, LimitReached, NotFound, Unauthenticated
from aether_web.integrations.vm_provider import get_vm_provider
from aether_web.observability import log
from aether_web.pages.dashboard import project_view
from aether_web.services import projects as project_service
from aether_web.services import vms
from aether_web.services.period_bill import period_bill
from aether_web.services.project_usage import recent_runs
from aether_web.state.auth import AuthState
from aether_web.state.usage import UsageState
from aether_web.state.usage_view import duration_text, number

BYTES_PER_GB = 10**9
END_REASONS = {
    None: "", "user_stopped": "Stopped", "stopped": "Stopped", "heartbeat_lost": "Went silent",
    "compute_limit_reached": "Plan's hours used up", "project_deleted": "Project deleted",
    "replaced": "Restarted", "reconciled_not_running": "Found stopped",
}


def run_row(run) -> dict[str, str]:
    """A run as the table shows it (all text)."""
    return {
        "started": run.started_at.strftime("%b %-d, %H:%M UTC"),
        "ended": run.ended_at.strftime("%b %-d, %H:%M UTC") if run.ended_at else "Running",
        "duration": duration_text(run.seconds),
        "how": END_REASONS.get(run.end_reason, (run.end_reason or "").replace("_", " ")),
    }


class ProjectState(AuthState):
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
    pending: str = ""  # "" | start | stop
    limit_message: str = ""
    rename_open: bool = False
    rename_name: str = ""
    rename_error: str = ""
    delete_open: bool = False

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
    async def load(self):
        """The project, its month and runs, and the header's usage, in one answer."""
        self.status, self.limit_message = "loading", ""
        usage = await self.get_state(UsageState)  # before the transaction: it may await
        try:
            with transaction() as session:
                self._reload(session)
                usage._load_usage(session)
        except Unauthenticated:
            return self._login_redirect()
        except NotFound:
            self.project, self.status = {}, "missing"
        return None

    async def _vm(self, action: str):
        if self.pending:
            return
        self.pending, self.limit_message = action, ""
        yield
        project_id = self.project.get("id", "")

        def work() -> None:
            with transaction() as session:
                user_id = self._user_id(session)
                if action == "start":
                    vms.start_project(session, user_id=user_id, project_id=project_id)
                else:
                    vms.stop_project(session, user_id=user_id, project_id=project_id)

        failure = ""
        try:
            await asyncio.to_thread(work)
        except Unauthenticated:
            self.pending = ""
            yield self._login_redirect()
            return
        except LimitReached as exc:
            self.limit_message = exc.message
        except AetherError as exc:
            failure = exc.message
        except Exception:
            log.exception("could not %s the VM of project %s", action, project_id)
            failure = "Something went wrong on our side. Please try again."
        try:
            await asyncio.to_thread(self._reload_in_transaction)
        finally:
            self.pending = ""
        yield [*([rx.toast.error(failure)] if failure else []), UsageState.refresh]

    def _reload_in_transaction(self) -> None:
        with transaction() as session:
            self._reload(session)

    @rx.event
    async def start_vm(self):
        """Start this project's VM (the user comes from the session)."""
        async for update in self._vm("start"):
            yield update

    @rx.event
    async def stop_vm(self):
        """Stop this project's VM."""
        async for update in self._vm("stop"):
            yield update

    @rx.event
    def open_rename(self) -> None:
        self.rename_open, self.rename_name = True, self.project.get("name", "")
        self.rename_error = ""

    @rx.event
    def rename_open_change(self, is_open: bool) -> None:
        self.rename_open = is_open

    @rx.event
    def set_rename_name(self, value: str) -> None:
        self.rename_name = value

    @rx.event
    def rename(self, form_data: dict):
        name = str(form_data.get("name", self.rename_name))
        try:
            with transaction() as session:
                project_service.rename_project(session, user_id=self._user_id(session),
                                               project_id=self.project.get("id", ""),
                                               name=name)
                self._reload(session)
        except Unauthenticated:
            return self._login_redirect()
        except AetherError as exc:
            self.rename_error = exc.message
            return None
        self.rename_open = False
        return rx.toast.success("Project renamed.")

    @rx.event
    def delete_open_change(self, is_open: bool) -> None:
        self.delete_open = is_open

    @rx.event
    def ask_delete(self) -> None:
        self.delete_open = True

    @rx.event
    def delete(self):
        name = self.project.get("name", "")
        self.delete_open = False
        try:
            with transaction() as session:
                user_id = self._user_id(session)
                project_id = uuid.UUID(self.project.get("id", ""))
                vms.stop_for_deletion(session, user_id=user_id, project_id=project_id)
                project_service.delete_project(session, user_id=user_id, project_id=project_id)
        except Unauthenticated:
            return self._login_redirect()
        except (AetherError, ValueError) as exc:
            return rx.toast.error(f'"{name}" was not deleted: {getattr(exc, "message", exc)}')
        return [rx.toast.success(f'Project "{name}" deleted.'), rx.redirect(routes.DASHBOARD)]


def _state_badge() -> rx.Component:
    state = ProjectState.project["vm_state"]
    return rx.badge(state, color_scheme=rx.match(state, ("running", "grass"),
                                                 ("starting", "amber"), ("stopping", "amber"),
                                                 "gray"),
                    variant="soft", size="2", id="project-vm-state")


def _vm_actions() -> rx.Component:
    pending = ProjectState.pending != ""
    return rx.hstack(
        rx.cond(
            ProjectState.project["vm_state"] == "stopped",
            rx.button(rx.icon("play", size=16), "Start", loading=ProjectState.pending == "start",
                      disabled=pending, on_click=ProjectState.start_vm, id="project-start"),
            rx.button(rx.icon("square", size=16), "Stop", variant="soft", color_scheme="red",
                      loading=ProjectState.pending == "stop", disabled=pending,
                      on_click=ProjectState.stop_vm, id="project-stop"),
        ),
        rx.cond(ProjectState.workspace_url != "",
                rx.button(rx.el.a(rx.icon("external-link", size=16), "Open workspace",
                                  href=ProjectState.workspace_url, target="_blank",
                                  rel="noopener", id="open-workspace"),
                          variant="soft", as_child=True)),
        rx.button(rx.icon("pencil", size=16), "Rename", variant="soft", color_scheme="gray",
                  on_click=ProjectState.open_rename, id="project-rename"),
        rx.button(rx.icon("trash-2", size=16), "Delete", variant="soft", color_scheme="red",
                  on_click=ProjectState.ask_delete, id="project-delete"),
        rx.cond(pending, rx.text(rx.cond(ProjectState.pending == "start", "Starting the VM…",
                                         "Stopping the VM…"),
                                 size="2", color_scheme="gray", role="status",
                                 id="project-progress")),
        spacing="3", wrap="wrap", align="center",
    )


def _limit_notice() -> rx.Component:
    return rx.cond(
        ProjectState.limit_message != "",
        rx.callout(
            rx.hstack(
                rx.text(ProjectState.limit_message, id="project-limit-message"),
                link_button("Upgrade", size="1", href=routes.BILLING + "?upgrade=1"),
                spacing="3", wrap="wrap", align="center",
            ),
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


def _rename_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Rename project"),
            rx.el.form(
                rx.vstack(
                    rx.el.label("New name", html_for="project-rename-input"),
                    rx.input(id="project-rename-input", name="name",
                             value=ProjectState.rename_name,
                             on_change=ProjectState.set_rename_name, max_length=64),
                    rx.cond(ProjectState.rename_error != "",
                            rx.text(ProjectState.rename_error, color_scheme="red", size="2",
                                    role="alert")),
                    rx.hstack(
                        rx.dialog.close(rx.button("Cancel", type="button", variant="soft",
                                                  color_scheme="gray")),
                        rx.button("Save", type="submit", id="project-rename-save"),
                        justify="end", width="100%",
                    ),
                    spacing="3",
                ),
                on_submit=ProjectState.rename,
            ),
        ),
        open=ProjectState.rename_open,
        on_open_change=ProjectState.rename_open_change,
    )


def _delete_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete project?"),
            rx.alert_dialog.description(
                "This stops its VM and removes \"" + ProjectState.project["name"]
                + "\" from your dashboard. Usage it already had stays on your bill."),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(rx.button("Delete", color_scheme="red", high_contrast=True,
                                                 on_click=ProjectState.delete,
                                                 id="project-confirm-delete")),
                justify="end", spacing="3", margin_top="1rem",
            ),
        ),
        open=ProjectState.delete_open,
        on_open_change=ProjectState.delete_open_change,
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
                    _state_badge(),
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
        _rename_dialog(),
        _delete_dialog(),
    )
