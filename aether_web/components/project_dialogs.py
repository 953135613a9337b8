"""Rename and Delete of a project, as the dashboard and the project page ask them, over the
page's `state.project_edits.ProjectEditsState`; a prefix keeps the element ids apart."""

from __future__ import annotations

import reflex as rx

from aether_web.services.projects import MAX_NAME_LENGTH


def project_dialogs(state, *, id_prefix: str = "") -> rx.Component:
    """Both dialogs of a page whose state mixes in `ProjectEditsState`."""
    return rx.fragment(
        _rename_dialog(name=state.rename_name, error=state.rename_error,
                       on_change=state.set_rename_name, on_submit=state.rename_project,
                       open_=state.rename_id != "", on_open_change=state.rename_open_change,
                       id_prefix=id_prefix),
        _delete_dialog(name=state.delete_name, on_confirm=state.delete_project,
                       open_=state.delete_id != "", on_open_change=state.delete_open_change,
                       id_prefix=id_prefix),
    )


def _rename_dialog(*, name, error, on_change, on_submit, open_, on_open_change,
                   id_prefix: str) -> rx.Component:
    """The new name's form."""
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Rename project"),
            rx.el.form(
                rx.vstack(
                    rx.el.label("New name", html_for=f"{id_prefix}rename-input"),
                    rx.input(id=f"{id_prefix}rename-input", name="name", value=name,
                             on_change=on_change, max_length=MAX_NAME_LENGTH),
                    rx.cond(error != "",
                            rx.text(error, color_scheme="red", size="2", role="alert")),
                    rx.hstack(
                        rx.dialog.close(rx.button("Cancel", type="button", variant="soft",
                                                  color_scheme="gray")),
                        rx.button("Save", type="submit", id=f"{id_prefix}rename-save"),
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                ),
                on_submit=on_submit,
            ),
        ),
        open=open_,
        on_open_change=on_open_change,
    )


def _delete_dialog(*, name, on_confirm, open_, on_open_change, id_prefix: str) -> rx.Component:
    """Are you sure? `name` is the project's name, a var."""
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete project?"),
            rx.alert_dialog.description(
                "This stops its VM and removes \"" + name
                + "\" from your dashboard. Usage it already had stays on your bill."),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(rx.button("Delete", color_scheme="red", high_contrast=True,
                                                 on_click=on_confirm,
                                                 id=f"{id_prefix}confirm-delete")),
                justify="end",
                spacing="3",
                margin_top="1rem",
            ),
        ),
        open=open_,
        on_open_change=on_open_change,
    )
