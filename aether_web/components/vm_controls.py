"""A VM's state badge, and Start/Stop for a project card with progress. Pure UI: the actions
are those of `state.vm_controls.VMControlsState`, mixed into the page's state."""

from __future__ import annotations

import reflex as rx


def vm_state_badge(vm_state, **props) -> rx.Component:
    """The VM's state (running, starting, stopping, stopped) in its colour."""
    return rx.badge(
        vm_state,
        color_scheme=rx.match(vm_state, ("running", "grass"), ("starting", "amber"),
                              ("stopping", "amber"), "gray"),
        variant="soft",
        **props,
    )


def vm_controls(project: dict, state) -> rx.Component:
    """The VM's state and a Start or Stop button; the button spins while the action runs.
    `state` is the page's state class, a `VMControlsState`."""
    busy = state.vm_pending_id == project["id"]
    return rx.hstack(
        vm_state_badge(project["vm_state"], class_name="vm-state"),
        rx.cond(
            project["vm_state"] == "stopped",
            rx.button(rx.icon("play", size=14), "Start", size="2", variant="soft",
                      loading=busy, disabled=state.vm_pending_id != "",
                      on_click=state.start_vm(project["id"]),
                      class_name="vm-start", aria_label="Start " + project["name"]),
            rx.button(rx.icon("square", size=14), "Stop", size="2", variant="soft",
                      color_scheme="red", loading=busy,
                      disabled=state.vm_pending_id != "",
                      on_click=state.stop_vm(project["id"]),
                      class_name="vm-stop", aria_label="Stop " + project["name"]),
        ),
        rx.cond(busy, rx.text(rx.cond(state.vm_pending_action == "start",
                                      "Starting…", "Stopping…"),
                              size="1", color_scheme="gray", role="status",
                              class_name="vm-progress")),
        align="center",
        spacing="2",
    )
