"""The project dashboard: list, create (within the plan's cap), rename, delete."""

from __future__ import annotations

import uuid

import reflex as rx

from aether_web import routes
from aether_web.components.a11y import link_button
from aether_web.components.layout import app_page, skeleton_rows
from aether_web.db import transaction
from aether_web.errors import AetherError, LimitReached, Unauthenticated
from aether_web.models import Project
from aether_web.services import projects as project_service
from aether_web.services.projects import MAX_NAME_LENGTH
from aether_web.state.auth import AuthState
from aether_web.state.usage import UsageState


def project_view(project: Project) -> dict[str, str]:
    """What a project card shows; everything as text for the browser."""
    return {
        "id": str(project.id),
        "name": project.name,
        "vm_state": project.vm_state,
        "created": project.created_at.strftime("%b %d, %Y") if project.created_at else "",
        "machine_type": project.machine_type,
    }


class DashboardState(AuthState):
    """The dashboard's projects and dialogs."""

    projects: list[dict[str, str]] = []
    loaded: bool = False
    new_name: str = ""
    form_error: str = ""
    limit_open: bool = False
    limit_message: str = ""
    rename_id: str = ""
    rename_name: str = ""
    rename_error: str = ""
    delete_id: str = ""
    delete_name: str = ""
    busy: bool = False

    def _reload(self, session) -> None:
        user = self._user(session)
        self._remember(user)
        self.projects = [project_view(p) for p in project_service.list_projects(
            session, user_id=user.id)]
        self.loaded = True

    @rx.event
    async def load(self):
        """The projects, and the header's usage in the same answer."""
        usage = await self.get_state(UsageState)  # before the transaction: it may await
        with transaction() as session:
            try:
                self._reload(session)
                usage._load_usage(session)
            except Unauthenticated:
                return self._login_redirect()
        return None

    @rx.event
    def set_new_name(self, value: str) -> None:
        # A crafted event can send anything: keep at most a name's worth of text.
        self.new_name = str(value)[:64]
        self.form_error = ""

    @rx.event
    def create_project(self, form_data: dict):
        name = str(form_data.get("name", self.new_name))
        self.form_error = ""
        try:
            with transaction() as session:
                created = project_service.create_project(
                    session, user_id=self._user_id(session), name=name)
                self._reload(session)
        except Unauthenticated:
            return self._login_redirect()
        except LimitReached as exc:
            self.limit_message = exc.message
            self.limit_open = True
            return None
        except AetherError as exc:
            self.form_error = exc.message
            return None
        self.new_name = ""
        return [rx.toast.success(f'Project "{created.name}" created.'), UsageState.refresh]

    @rx.event
    def close_limit(self) -> None:
        self.limit_open = False

    @rx.event
    def limit_open_change(self, is_open: bool) -> None:
        self.limit_open = is_open

    @rx.event
    def rename_open_change(self, is_open: bool) -> None:
        if not is_open:
            self.rename_id = ""

    @rx.event
    def delete_open_change(self, is_open: bool) -> None:
        if not is_open:
            self.delete_id = ""

    @rx.event
    def open_rename(self, project_id: str, name: str) -> None:
        self.rename_id, self.rename_name, self.rename_error = project_id, name, ""

    @rx.event
    def set_rename_name(self, value: str) -> None:
        self.rename_name = str(value)[:64]

    @rx.event
    def cancel_rename(self) -> None:
        self.rename_id = ""

    @rx.event
    def rename_project(self, form_data: dict):
        name = str(form_data.get("name", self.rename_name))
        try:
            with transaction() as session:
                project_service.rename_project(
                    session, user_id=self._user_id(session), project_id=self.rename_id,
                    name=name)
                self._reload(session)
        except Unauthenticated:
            return self._login_redirect()
        except AetherError as exc:
            self.rename_error = exc.message
            return None
        self.rename_id = ""
        return rx.toast.success("Project renamed.")

    @rx.event
    def ask_delete(self, project_id: str, name: str) -> None:
        self.delete_id, self.delete_name = project_id, name

    @rx.event
    def cancel_delete(self) -> None:
        self.delete_id = ""

    @rx.event
    def delete_project(self):
        # Optimistic: the card goes at once; stopping its VM can take a moment.
        project_id, name = self.delete_id, self.delete_name
        self.delete_id = ""
        self.projects = [p for p in self.projects if p["id"] != project_id]
        yield
        try:
            with transaction() as session:
                user_id = self._user_id(session)
                _stop_before_delete(session, user_id, project_id)
                project_service.delete_project(session, user_id=user_id, project_id=project_id)
        except Unauthenticated:
            yield self._login_redirect()
            return
        except AetherError as exc:
            yield [rx.toast.error(f'"{name}" was not deleted: {exc.message}'),
                   DashboardState.load]
            return
        yield [rx.toast.success(f'Project "{name}" deleted.'), UsageState.refresh]


def _stop_before_delete(session, user_id: uuid.UUID, project_id: str) -> None:
    """A deleted project must not keep a VM running or a run open."""
    from aether_web.services.vms import stop_for_deletion

    stop_for_deletion(session, user_id=user_id, project_id=project_id)


def create_form() -> rx.Component:
    return rx.el.form(
        rx.hstack(
            rx.el.label("Project name", html_for="new-project-name", class_name="sr-only",
                        style={"position": "absolute", "width": "1px", "height": "1px",
                               "overflow": "hidden", "clip": "rect(0,0,0,0)"}),
            rx.input(
                id="new-project-name",
                name="name",
                placeholder="my-app",
                value=DashboardState.new_name,
                on_change=DashboardState.set_new_name,
                max_length=MAX_NAME_LENGTH,
                size="3",
                flex="1",
            ),
            rx.button(rx.icon("plus", size=16), "Create project", type="submit", size="3",
                      id="create-project"),
            width="100%",
            max_width="32rem",
        ),
        rx.cond(DashboardState.new_name.length() >= MAX_NAME_LENGTH,
                rx.text(f"{MAX_NAME_LENGTH} characters: the most a project name can have.",
                        size="1", color_scheme="gray", role="status", id="name-length-note",
                        margin_top="0.25rem")),
        on_submit=DashboardState.create_project,
        reset_on_submit=False,
    )


def project_card(project: dict) -> rx.Component:
    """A project: its name (cut with an ellipsis, whole on hover and focus), created date, VM
    controls, rename and delete. On a phone the controls wrap below the name."""
    return rx.card(
        rx.flex(
            rx.vstack(
                rx.link(project["name"], href="/projects/" + project["id"], weight="bold",
                        size="4", class_name="project-name ellipsis", title=project["name"]),
                rx.text("Created " + project["created"], size="1", color_scheme="gray"),
                spacing="1",
                min_width="0",
                flex="1 1 12rem",
            ),
            rx.hstack(
                *_vm_controls(project),
                rx.icon_button(rx.icon("pencil", size=16), variant="ghost",
                               aria_label="Rename " + project["name"],
                               on_click=DashboardState.open_rename(project["id"],
                                                                   project["name"])),
                rx.icon_button(rx.icon("trash-2", size=16), variant="ghost", color_scheme="red",
                               aria_label="Delete " + project["name"],
                               on_click=DashboardState.ask_delete(project["id"],
                                                                  project["name"])),
                align="center",
                spacing="3",
                flex_shrink="0",
            ),
            align="center",
            gap="3",
            wrap="wrap",
            width="100%",
        ),
        width="100%",
        class_name="project-card",
    )


def _vm_controls(project: dict) -> list[rx.Component]:
    # Imported here: the VM controls' state builds on DashboardState, defined above.
    from aether_web.components.vm_controls import vm_controls

    return [vm_controls(project)]


def empty_state() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.icon("folder-plus", size=40, aria_hidden="true"),
            rx.heading("Create your first project", size="5", as_="h2"),
            rx.text("Each project runs in its own VM. Name it and start building.",
                    color_scheme="gray"),
            align="center",
            spacing="3",
            padding="2rem",
        ),
        width="100%",
        id="empty-state",
    )


def limit_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("You've reached your plan's limit"),
            rx.alert_dialog.description(DashboardState.limit_message, id="limit-message"),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button("Not now", variant="soft", color_scheme="gray",
                              on_click=DashboardState.close_limit)),
                link_button("Upgrade", href=routes.BILLING + "?upgrade=1", id="limit-upgrade"),
                justify="end",
                spacing="3",
                margin_top="1rem",
            ),
        ),
        open=DashboardState.limit_open,
        on_open_change=DashboardState.limit_open_change,
    )


def rename_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Rename project"),
            rx.el.form(
                rx.vstack(
                    rx.el.label("New name", html_for="rename-input"),
                    rx.input(id="rename-input", name="name", value=DashboardState.rename_name,
                             on_change=DashboardState.set_rename_name, max_length=64),
                    rx.cond(DashboardState.rename_error != "",
                            rx.text(DashboardState.rename_error, color_scheme="red", size="2",
                                    role="alert")),
                    rx.hstack(
                        rx.button("Cancel", type="button", variant="soft", color_scheme="gray",
                                  on_click=DashboardState.cancel_rename),
                        rx.button("Save", type="submit", id="rename-save"),
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                ),
                on_submit=DashboardState.rename_project,
            ),
        ),
        open=DashboardState.rename_id != "",
        on_open_change=DashboardState.rename_open_change,
    )


def delete_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete project?"),
            rx.alert_dialog.description(
                "This stops its VM and removes \"" + DashboardState.delete_name
                + "\" from your dashboard. Usage it already had stays on your bill."),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray",
                                                 on_click=DashboardState.cancel_delete)),
                rx.alert_dialog.action(rx.button("Delete", color_scheme="red", high_contrast=True, id="confirm-delete",
                                                 on_click=DashboardState.delete_project)),
                justify="end",
                spacing="3",
                margin_top="1rem",
            ),
        ),
        open=DashboardState.delete_id != "",
        on_open_change=DashboardState.delete_open_change,
    )


def _dashboard_extras() -> list[rx.Component]:
    from aether_web.components.app_banners import app_banners

    return [app_banners()]


@rx.page(route=routes.DASHBOARD, title="Projects · aether", on_load=DashboardState.load)
def dashboard() -> rx.Component:
    return app_page(
        rx.vstack(
            *_dashboard_extras(),
            rx.heading("Projects", size="7", as_="h1"),
            create_form(),
            rx.cond(DashboardState.form_error != "",
                    rx.callout(DashboardState.form_error, icon="circle_alert", color_scheme="red",
                               role="alert", id="form-error")),
            rx.cond(
                DashboardState.loaded,
                rx.cond(
                    DashboardState.projects.length() > 0,
                    rx.vstack(rx.foreach(DashboardState.projects, project_card), width="100%",
                              spacing="3", id="project-list"),
                    empty_state(),
                ),
                skeleton_rows(),
            ),
            spacing="5",
            width="100%",
        ),
        limit_dialog(),
        rename_dialog(),
        delete_dialog(),
    )
