"""The project dashboard: list, create (within the plan's cap), rename, delete."""

from __future__ import annotations

import reflex as rx

from aether_web import routes
from aether_web.components.a11y import link_button
from aether_web.components.app_banners import app_banners
from aether_web.components.layout import app_page, skeleton_rows
from aether_web.components.project_dialogs import project_dialogs
from aether_web.components.vm_controls import vm_controls
from aether_web.db import transaction
from aether_web.errors import AetherError, LimitReached
from aether_web.services import projects as project_service
from aether_web.services.projects import MAX_NAME_LENGTH
from aether_web.state.auth import AuthState, login_required
from aether_web.state.flash import FlashState
from aether_web.state.project_edits import ProjectEditsState
from aether_web.state.project_view import project_view
from aether_web.state.usage import UsageState
from aether_web.state.vm_controls import VMControlsState


class DashboardState(VMControlsState, ProjectEditsState, AuthState):
    """The dashboard's projects, their VM controls, the rename and delete dialogs and the
    limit dialog."""

    projects: list[dict[str, str]] = []
    loaded: bool = False
    new_name: str = ""
    form_error: str = ""
    limit_open: bool = False
    limit_message: str = ""
    busy: bool = False

    def _reload(self, session) -> None:
        user = self._user(session)
        self._remember(user)
        self.projects = [project_view(p) for p in project_service.list_projects(
            session, user_id=user.id)]
        self.loaded = True

    def _show_limit(self, exc: LimitReached) -> str:
        if exc.code == "verify_email":  # not a plan limit: upgrading would not help
            return exc.message
        self.limit_message, self.limit_open = exc.message, True
        return ""

    @rx.event
    @login_required
    async def load(self):
        """The projects, and the header's usage in the same answer."""
        usage = await self.get_state(UsageState)  # before the transaction: it may await
        with transaction() as session:
            self._reload(session)
            usage._load_usage(session)

    @rx.event
    def set_new_name(self, value: str) -> None:
        # A crafted event can send anything: keep at most a name's worth of text.
        self.new_name = str(value)[:64]
        self.form_error = ""

    @rx.event
    @login_required
    def create_project(self, form_data: dict):
        name = str(form_data.get("name", self.new_name))
        self.form_error = ""
        try:
            with transaction() as session:
                created = project_service.create_project(
                    session, user_id=self._user_id(session), name=name)
                self._reload(session)
        except LimitReached as exc:
            self.limit_message = exc.message
            self.limit_open = True
            return None
        except AetherError as exc:
            self.form_error = exc.message
            return None
        self.new_name = ""
        return [FlashState.show("success", f'Project "{created.name}" created.'), UsageState.refresh]

    @rx.event
    def close_limit(self) -> None:
        self.limit_open = False

    @rx.event
    def limit_open_change(self, is_open: bool) -> None:
        self.limit_open = is_open

    @rx.event
    @login_required
    def delete_project(self):
        # Optimistic: the card goes at once; stopping its VM can take a moment.
        project_id, name = self.delete_id, self.delete_name
        self.delete_id = ""
        self.projects = [p for p in self.projects if p["id"] != project_id]
        yield
        deleted, notice = self._delete(project_id, name)
        yield [notice, UsageState.refresh if deleted else DashboardState.load]


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
                vm_controls(project, DashboardState),
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


@rx.page(route=routes.DASHBOARD, title="Projects · aether", on_load=DashboardState.load)
def dashboard() -> rx.Component:
    return app_page(
        rx.vstack(
            app_banners(),
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
        project_dialogs(DashboardState),
    )
