"""Rename and Delete of a project, for the pages that offer them (the dashboard's cards, the
project page): a state mixin over `services.projects`, shown by `components.project_dialogs`."""

from __future__ import annotations

import reflex as rx

from aether_web.db import transaction
from aether_web.errors import AetherError
from aether_web.services import projects as project_service
from aether_web.services.projects import MAX_NAME_LENGTH
from aether_web.services.vms import stop_for_deletion
from aether_web.state.auth import AuthState, login_required
from aether_web.state.flash import FlashState


class ProjectEditsState(AuthState, mixin=True):
    """Which project's rename or delete dialog is open, and the rename's name and error. A page
    mixes it in beside `VMControlsState`, provides `_reload(session)` (what it shows after a
    rename) and a `delete_project` handler (what the page does once the project is gone),
    built on `_delete`."""

    rename_id: str = ""  # the project being renamed; "" while the dialog is closed
    rename_name: str = ""
    rename_error: str = ""
    delete_id: str = ""  # the project asked about; "" while the dialog is closed
    delete_name: str = ""

    def _reload(self, session) -> None:
        raise NotImplementedError

    @rx.event
    def open_rename(self, project_id: str, name: str) -> None:
        self.rename_id, self.rename_name, self.rename_error = str(project_id), str(name), ""

    @rx.event
    def rename_open_change(self, is_open: bool) -> None:
        if not is_open:
            self.rename_id = ""

    @rx.event
    def set_rename_name(self, value: str) -> None:
        # A crafted event can send anything: keep at most a name's worth of text.
        self.rename_name = str(value)[:MAX_NAME_LENGTH]

    @rx.event
    @login_required
    def rename_project(self, form_data: dict):
        """The name from the dialog's form; a refusal stays in the dialog."""
        name = str(form_data.get("name", self.rename_name))
        try:
            with transaction() as session:
                project_service.rename_project(
                    session, user_id=self._user_id(session), project_id=self.rename_id,
                    name=name)
                self._reload(session)
        except AetherError as exc:
            self.rename_error = exc.message
            return None
        self.rename_id = ""
        return FlashState.show("success", "Project renamed.")

    @rx.event
    def ask_delete(self, project_id: str, name: str) -> None:
        self.delete_id, self.delete_name = str(project_id), str(name)

    @rx.event
    def delete_open_change(self, is_open: bool) -> None:
        if not is_open:
            self.delete_id = ""

    def _delete(self, project_id: str, name: str):
        """Stop the project's VM and close its run (nothing is billed after a project is
        gone), then delete it: (whether it was deleted, the notice that says so or why not)."""
        try:
            with transaction() as session:
                user_id = self._user_id(session)
                stop_for_deletion(session, user_id=user_id, project_id=project_id)
                project_service.delete_project(session, user_id=user_id, project_id=project_id)
        except AetherError as exc:
            return False, FlashState.show("error", f'"{name}" was not deleted: {exc.message}')
        return True, FlashState.show("success", f'Project "{name}" deleted.')
