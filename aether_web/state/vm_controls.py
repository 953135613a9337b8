"""Start and Stop of a project's VM, with progress, for the pages that show one (the
dashboard's cards, the project page): a state mixin over `services.vms`."""

from __future__ import annotations

import asyncio

import reflex as rx

from aether_web.db import transaction
from aether_web.errors import AetherError, LimitReached
from aether_web.observability import log
from aether_web.services import vms
from aether_web.state.auth import AuthState, SessionEnded, login_required
from aether_web.state.flash import FlashState
from aether_web.state.usage import UsageState


class VMControlsState(AuthState, mixin=True):
    """Which project's VM is being started or stopped right now. A page mixes it in and
    provides `_reload(session)` (what it shows after the action) and `_show_limit(exc)`:
    `class PageState(VMControlsState, AuthState)` (a state whose bases are all mixins is a
    mixin too)."""

    vm_pending_id: str = ""
    vm_pending_action: str = ""  # "" | start | stop

    def _reload(self, session) -> None:
        raise NotImplementedError

    def _clear_limit(self) -> None:
        """Hide a refusal shown by an earlier action (nothing to hide by default)."""

    def _show_limit(self, exc: LimitReached) -> str:
        """Show a start the plan refused; the message to show as an error instead, if any."""
        raise NotImplementedError

    def _reload_in_transaction(self) -> None:
        with transaction() as session:
            self._reload(session)

    async def _vm_action(self, project_id: str, action: str):
        if self.vm_pending_id:
            return
        self.vm_pending_id, self.vm_pending_action = project_id, action
        self._clear_limit()
        yield

        def work() -> None:
            with transaction() as session:
                user_id = self._user_id(session)
                if action == "start":
                    vms.start_project(session, user_id=user_id, project_id=project_id)
                else:
                    vms.stop_project(session, user_id=user_id, project_id=project_id)

        failure = ""
        try:
            try:
                await asyncio.to_thread(work)
            except LimitReached as exc:
                failure = self._show_limit(exc)
            except AetherError as exc:
                failure = exc.message
            except SessionEnded:
                raise  # not a failure to show: `login_required` sends the visitor to log in
            except Exception:
                log.exception("could not %s the VM of project %s", action, project_id)
                failure = "Something went wrong on our side. Please try again."
            await asyncio.to_thread(self._reload_in_transaction)
        finally:
            self.vm_pending_id = self.vm_pending_action = ""
        yield [*([FlashState.show("error", failure)] if failure else []), UsageState.refresh]

    @rx.event
    @login_required
    async def start_vm(self, project_id: str):
        """Start the project's VM (the user comes from the session, never the browser)."""
        async for update in self._vm_action(str(project_id), "start"):
            yield update

    @rx.event
    @login_required
    async def stop_vm(self, project_id: str):
        """Stop the project's VM."""
        async for update in self._vm_action(str(project_id), "stop"):
            yield update
