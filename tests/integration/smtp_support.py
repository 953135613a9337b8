"""A real SMTP server (aiosmtpd on loopback) that keeps what it receives, and the settings that
point the app at it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from aether_web.settings import get_settings
from tools.stripe_emulator.testing import free_port


class Inbox(Message):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list = []

    def handle_message(self, message) -> None:
        self.messages.append(message)

    def to(self, address: str) -> list:
        return [m for m in self.messages if m["To"] == address]

    def link(self, address: str, path: str) -> str:
        """The token of the last link to `path` mailed to `address`."""
        (*_, last) = self.to(address)
        body = self.body(last)
        found = re.findall(rf"{re.escape(path)}\?token=([A-Za-z0-9_\-]+)", body)
        assert found, body
        return found[-1]

    @staticmethod
    def body(message) -> str:
        """The decoded text (long lines travel quoted-printable)."""
        return message.get_payload(decode=True).decode()


@pytest.fixture
def smtp_inbox(monkeypatch) -> Iterator[Inbox]:
    """An SMTP server the app delivers to; its messages arrive in the returned inbox."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    monkeypatch.setenv("SMTP_HOST", controller.hostname)
    monkeypatch.setenv("SMTP_PORT", str(controller.port))
    get_settings.cache_clear()
    yield inbox
    controller.stop()
    get_settings.cache_clear()
