"""The sections of the settings page: name, email, password, signed-in sessions, and
deleting the account."""

from __future__ import annotations

import reflex as rx

from aether_web import routes
from aether_web.components.table import data_table
from aether_web.components.verify_banner import resend_button
from aether_web.pages.settings.state import SettingsState
from aether_web.services.passwords import MIN_PASSWORD
from aether_web.state.auth import AuthState


def _section(title: str, *children: rx.Component, **props) -> rx.Component:
    return rx.card(rx.vstack(rx.heading(title, size="4", as_="h2"), *children, spacing="3",
                             width="100%"), width="100%", **props)


def _input(label: str, name: str, type_: str = "text", **props) -> rx.Component:
    field_id = props.pop("id", name)
    return rx.vstack(
        rx.el.label(label, html_for=field_id, style={"fontWeight": 500, "fontSize": "0.9rem"}),
        rx.input(id=field_id, name=name, type=type_, width="100%", size="2", **props),
        spacing="1", width="100%", max_width="26rem",
    )


def _message(text, ok=None, id_: str = "") -> rx.Component:
    color = "green" if ok is None else rx.cond(ok, "green", "red")
    return rx.cond(text != "", rx.text(text, size="2", color_scheme=color, id=id_,
                                       role="status"))


def name_section() -> rx.Component:
    return _section(
        "Name",
        rx.el.form(
            rx.vstack(
                _input("Your name (optional)", "name", default_value=SettingsState.name,
                       max_length=120, auto_complete="name", id="settings-name",
                       key=SettingsState.name),
                rx.button("Save name", type="submit", id="save-name"),
                _message(SettingsState.name_msg, id_="name-msg"),
                spacing="2", width="100%",
            ),
            on_submit=SettingsState.save_name, reset_on_submit=False, width="100%",
        ),
    )


def email_section() -> rx.Component:
    return _section(
        "Email",
        rx.hstack(
            rx.text(AuthState.user_email, weight="medium", id="settings-email"),
            rx.cond(AuthState.email_verified,
                    rx.badge("Confirmed", color_scheme="green", id="email-status"),
                    rx.badge("Not confirmed", color_scheme="amber", id="email-status")),
            rx.cond(~AuthState.email_verified, resend_button(id="settings-resend")),
            align="center", spacing="3", wrap="wrap",
        ),
        rx.cond(SettingsState.pending_email != "",
                rx.text("Waiting for confirmation: ", rx.text.strong(SettingsState.pending_email),
                        ". Open the link we sent there to switch.", size="2",
                        id="pending-email")),
        rx.el.form(
            rx.vstack(
                _input("New email address", "new_email", "email", auto_complete="email",
                       required=True, id="new-email"),
                _input("Current password", "password", "password", required=True,
                       auto_complete="current-password", id="email-password"),
                rx.button("Change email", type="submit", id="change-email"),
                _message(SettingsState.email_msg, SettingsState.email_ok, "email-msg"),
                spacing="2", width="100%",
            ),
            on_submit=SettingsState.change_email, reset_on_submit=True, width="100%",
        ),
    )


def password_section() -> rx.Component:
    return _section(
        "Password",
        rx.el.form(
            rx.vstack(
                _input("Current password", "current_password", "password", required=True,
                       auto_complete="current-password", id="current-password"),
                _input(f"New password (at least {MIN_PASSWORD} characters)", "new_password",
                       "password", required=True, min_length=MIN_PASSWORD,
                       auto_complete="new-password", id="new-password"),
                rx.button("Change password", type="submit", id="change-password"),
                _message(SettingsState.password_msg, SettingsState.password_ok,
                         "password-msg"),
                spacing="2", width="100%",
            ),
            on_submit=SettingsState.change_password, reset_on_submit=True, width="100%",
        ),
    )


def _session_row(row: dict) -> rx.Component:
    return rx.el.tr(
        rx.el.td(row["device"], rx.cond(row["current"] != "",
                                        rx.badge("This browser", margin_left="0.5rem"))),
        rx.el.td(row["ip"]),
        rx.el.td(row["created"]),
        rx.el.td(row["last_seen"]),
        class_name="session-row",
    )


def sessions_section() -> rx.Component:
    return _section(
        "Signed-in sessions",
        # Stacked into labelled cards on a phone, as every table of the app.
        data_table(["Device", "Address", "Signed in", "Last active"],
                   rx.foreach(SettingsState.sessions, _session_row),
                   table_id="sessions-table", label="Signed-in sessions"),
        rx.hstack(
            rx.button("Sign out everywhere else", on_click=SettingsState.sign_out_others,
                      variant="soft", id="sign-out-others"),
            _message(SettingsState.sessions_msg, id_="sessions-msg"),
            align="center", spacing="3", wrap="wrap",
        ),
    )


def delete_section() -> rx.Component:
    return _section(
        "Delete account",
        rx.text("Deleting your account ends your subscription now (usage so far is invoiced, "
                "the unused part of the monthly fee is credited), stops your VMs and removes "
                "your email address, name, password and sessions. Invoices and usage records "
                "stay, without your name or address, for as long as tax law requires. ",
                rx.link("Privacy Policy", href=routes.PRIVACY), size="2"),
        rx.el.form(
            rx.vstack(
                _input("Your password, to confirm", "password", "password", required=True,
                       auto_complete="current-password", id="delete-password"),
                rx.button("Delete my account", type="submit", color_scheme="red",
                          id="delete-account"),
                _message(SettingsState.delete_msg, False, "delete-msg"),
                spacing="2", width="100%",
            ),
            on_submit=SettingsState.delete_account, reset_on_submit=True, width="100%",
        ),
        border="1px solid var(--red-a6)",
    )
