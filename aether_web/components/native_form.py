"""A plain HTML form the browser submits itself (Reflex's form always prevents that).

Used where the server must answer with a real HTTP response, e.g. to set an HttpOnly cookie.
"""

from __future__ import annotations

import reflex as rx
from reflex_components_core.el.elements.base import BaseHTML
from reflex_components_core.el.elements.forms import Form


class NativeForm(Form):
    """<form action method> with no client-side submit handler."""

    @classmethod
    def create(cls, *children, **props) -> rx.Component:
        props.pop("on_submit", None)
        props["handle_submit_unique_name"] = "native"
        return BaseHTML.create.__func__(cls, *children, **props)

    def add_hooks(self) -> list[str]:
        return []


native_form = NativeForm.create
