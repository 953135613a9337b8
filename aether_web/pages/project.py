"""One project's page. Only its owner can open it; anyone else sees "not found"."""

from __future__ import annotations

import reflex as rx

from aether_web import routes
from aether_web.components.a11y import link_button
from aether_web.components.layout import app_page, skeleton_rows
from aether_web.db import transaction
from aether_web.errors import NotFound, Unauthenticated
from aether_web.pages.dashboard import project_view
from aether_web.services import projects as project_service
from aether_web.state.auth import AuthState


class ProjectState(AuthState):
    project: dict[str, str] = {}
    status: str = "loading"  # loading | found | missing

    @rx.event
    def load(self):
        self.status = "loading"
        project_id = self.router.url.path.rstrip("/").rsplit("/", 1)[-1]
        with transaction() as session:
            try:
                user = self._user(session)
                self._remember(user)
                project = project_service.get_project(
                    session, user_id=user.id, project_id=project_id)
            except Unauthenticated:
                return self._login_redirect()
            except NotFound:
                self.project, self.status = {}, "missing"
                return None
            self.project, self.status = project_view(project), "found"
        return None


@rx.page(route=routes.PROJECT, title="Project · aether", on_load=ProjectState.load)
def project_page() -> rx.Component:
    return app_page(
        rx.match(
            ProjectState.status,
            ("found", rx.vstack(
                rx.link("← All projects", href=routes.DASHBOARD),
                rx.heading(ProjectState.project["name"], size="7", as_="h1", id="project-title"),
                rx.text("Machine: " + ProjectState.project["machine_type"], color_scheme="gray"),
                rx.text("VM: " + ProjectState.project["vm_state"], id="project-vm-state"),
                spacing="3",
            )),
            ("missing", rx.vstack(
                rx.heading("Project not found", size="6", as_="h1", id="project-missing"),
                rx.text("It doesn't exist, was deleted, or belongs to another account."),
                link_button("Back to your projects", href=routes.DASHBOARD),
                spacing="3",
            )),
            skeleton_rows(2),
        )
    )
