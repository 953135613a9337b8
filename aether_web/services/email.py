"""Email: queued in the caller's transaction (the outbox), delivered over SMTP after commit.

With no SMTP host configured the outbox row is the delivery (status "outbox"), which is what
local development and the embedded default use. A queued message survives a crash between
commit and delivery; `deliver_pending` (also a scheduled job) sends whatever is left.
"""

from __future__ import annotations

import smtplib
import threading
import uuid
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.db import db_now, transaction
from aether_web.models import EmailOutbox
from aether_web.observability import log
from aether_web.settings import Settings, get_settings

MAX_ATTEMPTS = 5
SMTP_TIMEOUT_SECONDS = 15
# A message `sending` this long was taken by a process that died before it finished.
STALE_SENDING = timedelta(minutes=10)


def queue_email(
    session: Session, *, to: str, subject: str, body: str, kind: str = "",
    user_id: uuid.UUID | None = None,
) -> EmailOutbox:
    """Record a message to send once the transaction commits. Nothing is queued for an
    address under `.invalid` (a deleted account's pseudonym can never receive mail)."""
    status = "pending" if get_settings().smtp_host else "outbox"
    message = EmailOutbox(user_id=user_id, to=to[:320], subject=subject[:255], body=body,
                          kind=kind[:64], status=status)
    if to.strip().lower().endswith(".invalid"):
        message.status = "skipped"
        return message
    session.add(message)
    return message


def build_message(row: EmailOutbox, settings: Settings) -> EmailMessage:
    """The RFC 5322 message for an outbox row."""
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = row.to
    msg["Subject"] = row.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(idstring=str(row.id).replace("-", ""))
    msg.set_content(row.body)
    return msg


def send_smtp(message: EmailMessage, settings: Settings) -> None:
    """Hand one message to the configured SMTP server (STARTTLS and login when configured)."""
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port,
                      timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        smtp.send_message(message)


def deliver_pending(*, engine: sa.Engine | None = None, limit: int = 50) -> dict[str, int]:
    """Send queued messages over SMTP. Returns counts.

    Owns its transactions and holds none while the SMTP server answers: a message is taken
    (`sending`, one more attempt) in a short transaction that commits before SMTP, then
    marked sent, retried or failed in another. Two deliverers never take the same message; a
    message left `sending` by a process that died is taken again after `STALE_SENDING`
    (at least once: it may then arrive twice, never not at all)."""
    settings = get_settings()
    counts = {"sent": 0, "failed": 0, "retry": 0}
    if not settings.smtp_host:
        return counts
    t = EmailOutbox.__table__.c
    with transaction(engine) as session:
        now = db_now(session)
        session.execute(sa.update(EmailOutbox.__table__).where(
            t.status == "sending", t.sent_at < now - STALE_SENDING).values(status="pending"))
        ids = list(session.exec(
            select(EmailOutbox.id).where(EmailOutbox.status == "pending")
            .order_by(EmailOutbox.created_at).limit(limit)).all())
    for message_id in ids:
        with transaction(engine) as session:
            # sent_at holds when a deliverer took it, while it is `sending`
            taken = session.execute(sa.update(EmailOutbox.__table__).where(
                t.id == message_id, t.status == "pending").values(
                status="sending", attempts=t.attempts + 1, sent_at=db_now(session)))
            row = session.get(EmailOutbox, message_id) if taken.rowcount == 1 else None
            message = build_message(row, settings) if row is not None else None
            attempts = row.attempts if row is not None else 0
        if message is None:
            continue  # another deliverer has it
        error = None
        try:
            send_smtp(message, settings)
        except (OSError, smtplib.SMTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"[:2000]
        with transaction(engine) as session:
            row = session.get(EmailOutbox, message_id)
            if row is None:
                continue
            if error is None:
                row.status, row.error, row.sent_at = "sent", None, db_now(session)
                counts["sent"] += 1
            elif attempts >= MAX_ATTEMPTS:
                row.status, row.error, row.sent_at = "failed", error, None
                counts["failed"] += 1
                log.error("email %s to a user failed for good: %s", row.id, error)
            else:
                row.status, row.error, row.sent_at = "pending", error, None
                counts["retry"] += 1
                log.warning("email %s not sent yet: %s", row.id, error)
            session.add(row)
    return counts


def deliver_soon() -> None:
    """Start `deliver_pending_quietly` on a thread of its own and return at once: for event
    handlers, which run on the worker's event loop and must not wait for an SMTP server."""
    threading.Thread(target=deliver_pending_quietly, name="deliver-mail", daemon=True).start()


def deliver_pending_quietly(*, engine: sa.Engine | None = None) -> None:
    """Best-effort delivery right after a commit; the scheduled job retries what is left."""
    try:
        deliver_pending(engine=engine)
    except Exception:  # never fail the caller (e.g. a webhook) because mail is down
        log.exception("email delivery failed; the outbox job will retry")
