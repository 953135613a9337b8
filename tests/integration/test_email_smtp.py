"""Email goes over real SMTP (aiosmtpd on loopback); with no SMTP host it stays in the outbox."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message
from sqlmodel import Session, select

from aether_web.models import EmailOutbox
from aether_web.services.email import deliver_pending, queue_email
from aether_web.settings import get_settings
from tools.stripe_emulator.testing import free_port


class Inbox(Message):
    def __init__(self) -> None:
        super().__init__()
        self.messages = []

    def handle_message(self, message) -> None:
        self.messages.append(message)


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture
def smtp_settings(monkeypatch):
    def use(host: str, port: int) -> None:
        monkeypatch.setenv("SMTP_HOST", host)
        monkeypatch.setenv("SMTP_PORT", str(port))
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


def _queue(engine, to: str = "ada@example.com") -> None:
    with Session(engine) as s:
        queue_email(s, to=to, subject="Your aether payment failed", body="Please update it.",
                    kind="payment_failed")
        s.commit()


def _rows(engine) -> list[EmailOutbox]:
    with Session(engine) as s:
        return list(s.exec(select(EmailOutbox)).all())


def test_mail_is_delivered_over_smtp(engine, smtp_server, smtp_settings) -> None:
    controller, inbox = smtp_server
    smtp_settings(controller.hostname, controller.port)
    _queue(engine)
    assert deliver_pending(engine=engine) == {"sent": 1, "failed": 0, "retry": 0}
    (message,) = inbox.messages
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Your aether payment failed"
    assert message["From"] == get_settings().mail_from
    assert "Please update it." in message.get_payload()
    (row,) = _rows(engine)
    assert row.status == "sent" and row.sent_at is not None
    assert deliver_pending(engine=engine)["sent"] == 0  # never twice


def test_smtp_down_keeps_the_message_for_retry(engine, smtp_settings) -> None:
    smtp_settings("127.0.0.1", free_port())  # nothing listens there
    _queue(engine)
    assert deliver_pending(engine=engine)["retry"] == 1
    (row,) = _rows(engine)
    assert row.status == "pending" and row.attempts == 1 and "Connection" in row.error


def test_without_smtp_the_outbox_is_the_delivery(engine) -> None:
    assert not os.environ.get("SMTP_HOST")
    get_settings.cache_clear()
    _queue(engine)
    assert deliver_pending(engine=engine)["sent"] == 0
    assert [r.status for r in _rows(engine)] == ["outbox"]


class SlowInbox(Inbox):
    """An SMTP server that takes its time over each message, until `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        import threading

        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        while not self.release.is_set():
            await asyncio.sleep(0.05)
        return await super().handle_DATA(server, session, envelope)


def test_no_database_lock_is_held_while_the_smtp_server_answers(engine, smtp_settings) -> None:
    import threading

    from aether_web.db import transaction

    inbox = SlowInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        smtp_settings(controller.hostname, controller.port)
        _queue(engine)
        done: list[dict] = []
        sender = threading.Thread(target=lambda: done.append(deliver_pending(engine=engine)))
        sender.start()
        # while the server holds the message, another request writes (SQLite: the one lock)
        import time

        deadline = time.monotonic() + 10
        while not any(r.status == "sending" for r in _rows(engine)):
            assert time.monotonic() < deadline, "the message was never taken"
            time.sleep(0.05)
        with transaction(engine) as s:
            queue_email(s, to="grace@example.com", subject="s", body="b")
        assert not done  # the first message is still with the SMTP server
        inbox.release.set()
        sender.join(timeout=15)
        assert done == [{"sent": 1, "failed": 0, "retry": 0}]
        assert {(r.to, r.status) for r in _rows(engine)} == {
            ("ada@example.com", "sent"), ("grace@example.com", "pending")}
    finally:
        inbox.release.set()
        controller.stop()
