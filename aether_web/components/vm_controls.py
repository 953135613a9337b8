"""Start/Stop for a project card, with progress, through the VM service.

A start refused by the plan opens the dashboard's limit dialog (with its Upgrade button).
"""

from __future__ import annotations

import asyncio

import reflex as rx

from aether_web.db import transaction
from aether_web.errors import AetherError, LimitReached, Unauthenticated
from aether_web.observability import log
from aether_web.pages.dashboard import DashboardState
from aether_web.services import vms


class VMControlsState(DashboardState):
    """Which project's VM is being started or stopped right now."""

    pending_id: str = ""
    pending_action: str = ""

    async def _run(self, project_id: str, action: str):
        if self.pending_id:
            return
        self.pending_id, self.pending_action = project_id, action
        yield
        dashboard = await self.get_state(DashboardState)

        def work() -> None:
            with transaction() as session:
                user_id = dashboard._user_id(session)
                if action == "start":
                    vms.start_project(session, user_id=user_id, project_id=project_id)
                else:
                    vms.stop_project(session, user_id=user_id, project_id=project_id)

        failure = None
        try:
            await asyncio.to_thread(work)
        except Unauthenticated:
            self.pending_id = ""
            yield dashboard._login_redirect()
            return
        except LimitReached as exc:
            if exc.code == "verify_email":  # not a plan limit: upgrading would not help
                failure = exc.message
            else:
                dashboard.limit_message = exc.message
                dashboard.limit_open = True
        except AetherError as exc:
            failure = exc.message
        except Exception:
            log.exception("could not %s the VM of project %s", action, project_id)
            failure = "Something went wrong on our side. Please try again."
        try:
            await asyncio.to_thread(self._reload_dashboard, dashboard)
        finally:
            self.pending_id = ""
        events: list = [rx.toast.error(failure)] if failure else []
        try:
            from aether_web.state.usage import UsageState

            events.append(UsageState.refresh)
        except ImportError:
            pass
        yield events

    @staticmethod
    def _reload_dashboard(dashboard: DashboardState) -> None:
        with transaction() as session:
            dashboard._reload(session)

    @rx.event
    async def start_vm(self, project_id: str):
        """Start the project's VM (the user comes from the session, never the browser)."""
        async for update in self._run(str(project_id), "start"):
            yield update

    @rx.event
    async def stop_vm(self, project_id: str):
        """Stop the project's VM."""
        async for update in self._run(str(project_id), "stop"):
            yield update


def _state_badge(project: dict) -> rx.Component:
    return rx.badge(
        project["vm_state"],
        color_scheme=rx.match(project["vm_state"], ("running", "grass"), ("starting", "amber"),
                              ("stopping", "amber"), "gray"),
        variant="soft",
        class_name="vm-state",
    )


def vm_controls(project: dict) -> rx.Component:
    """The VM's state and a Start or Stop button; the button spins while the action runs."""
    busy = VMControlsState.pending_id == project["id"]
    return rx.hstack(
        _state_badge(project),
        rx.cond(
            project["vm_state"] == "stopped",
            rx.button(rx.icon("play", size=14), "Start", size="2", variant="soft",
                      loading=busy, disabled=VMControlsState.pending_id != "",
                      on_click=VMControlsState.start_vm(project["id"]),
                      class_name="vm-start", aria_label="Start " + project["name"]),
            rx.button(rx.icon("square", size=14), "Stop", size="2", variant="soft",
                      color_scheme="red", loading=busy,
                      disabled=VMControlsState.pending_id != "",
                      on_click=VMControlsState.stop_vm(project["id"]),
                      class_name="vm-stop", aria_label="Stop " + project["name"]),
        ),
        rx.cond(busy, rx.text(rx.cond(VMControlsState.pending_action == "start",
                                      "Starting…", "Stopping…"),
                              size="1", color_scheme="gray", role="status",
                              class_name="vm-progress")),
        align="center",
        spacing="2",
    )
