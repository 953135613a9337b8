"""The email outbox's job: queued mail delivered over SMTP."""

from __future__ import annotations

from sqlmodel import Session

from aether_web.jobs.registry import Job, register
from aether_web.services.email import deliver_pending


def send_email(_session: Session) -> str:
    counts = deliver_pending()
    return f"sent {counts['sent']}, to retry {counts['retry']}, failed {counts['failed']}"


register(Job("send_email", send_email, every_seconds=60,
             description="Deliver queued email over SMTP.", max_interval_seconds=900))
