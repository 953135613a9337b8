"""Stripe webhook events: stored raw first (insert-once on the event id), then processed once
each in one transaction through the table of handlers (`services.stripe_handlers`); failures
keep their traceback for replay.

Order and repetition don't matter: a repeated id is answered without processing again, and
handlers apply Stripe's current state (re-fetched), skipping subscription events older than
the newest one already applied to the user.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass
from typing import Any

import sentry_sdk
import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web import metrics
from aether_web.db import db_now, dialect_insert, transaction
from aether_web.errors import NotFound
from aether_web.integrations.stripe import StripeGateway
from aether_web.models import StripeEvent
from aether_web.observability import log
from aether_web.services.email import deliver_pending_quietly
from aether_web.services.invoicing.adjustments import bill_adjustments_quietly
from aether_web.services.stripe_handlers import HANDLERS


def record_event(session: Session, *, event: dict[str, Any], raw: str) -> bool:
    """Store the event as received; False when this id is already stored (a redelivery)."""
    values = {"id": str(event["id"])[:255], "type": str(event["type"])[:128],
              "created": int(event.get("created") or 0), "payload": raw, "status": "pending",
              "attempts": 0, "outcome": ""}
    table = StripeEvent.__table__
    stmt = dialect_insert(session)(table).values(**values).on_conflict_do_nothing(
        index_elements=["id"]).returning(table.c.id)
    return len(session.exec(stmt).all()) == 1


def process_event(session: Session, *, event_id: str, gateway: StripeGateway) -> StripeEvent:
    """Process a stored event once (the row is locked; a processed one is left as it is).

    Raises whatever the handler raised; the caller rolls back and calls `mark_failed`.
    """
    row = session.exec(
        select(StripeEvent).where(StripeEvent.id == event_id).with_for_update()).first()
    if row is None:
        raise NotFound(f"No stored Stripe event {event_id}.", code="event_not_found")
    if row.status in ("processed", "ignored"):
        return row
    handler = HANDLERS.get(row.type)
    row.attempts += 1
    if handler is None:
        row.status, row.outcome = "ignored", "event type not handled"
    else:
        row.outcome = handler(session, json.loads(row.payload), gateway)[:2000]
        row.status = "ignored" if row.outcome.startswith("ignored") else "processed"
    row.last_error = None
    row.processed_at = db_now(session)
    session.add(row)
    return row


def mark_failed(session: Session, *, event_id: str, error: BaseException) -> None:
    """Keep the traceback of a failed attempt with the event (its own transaction)."""
    row = session.get(StripeEvent, event_id)
    if row is None:
        return
    row.attempts += 1
    row.status = "failed"
    row.last_error = "".join(traceback.format_exception(error))[-8000:]
    session.add(row)


@dataclass(frozen=True)
class Delivery:
    """The answer to one webhook delivery."""

    http_status: int
    event_status: str
    duplicate: bool


def receive_event(event: dict[str, Any], raw: str, *, gateway: StripeGateway,
                  engine: sa.Engine | None = None) -> Delivery:
    """Store, then process one verified event. Owns its transactions: the raw event is
    committed before processing, so it is kept even when processing fails."""
    with transaction(engine) as session:
        new = record_event(session, event=event, raw=raw)
    metrics.inc("aether_stripe_webhooks_total", type=str(event["type"]),
                outcome="new" if new else "duplicate")
    return run_event(str(event["id"]), gateway=gateway, engine=engine, duplicate=not new)


def run_event(event_id: str, *, gateway: StripeGateway, engine: sa.Engine | None = None,
              duplicate: bool = False) -> Delivery:
    """Process a stored event in one transaction; on failure keep the error and answer 500."""
    try:
        with transaction(engine) as session:
            row = process_event(session, event_id=event_id, gateway=gateway)
            status = row.status
    except NotFound:
        raise
    except Exception as exc:
        sentry_sdk.capture_exception(exc)
        log.error("stripe event %s failed: %s", event_id, exc)
        with transaction(engine) as session:
            mark_failed(session, event_id=event_id, error=exc)
        return Delivery(500, "failed", duplicate)
    deliver_pending_quietly(engine=engine)
    bill_adjustments_quietly(gateway=gateway, engine=engine)
    return Delivery(200, status, duplicate)


def replay_event(event_id: str, *, gateway: StripeGateway,
                 engine: sa.Engine | None = None) -> Delivery:
    """Process a stored failed or pending event again (an operator's replay)."""
    with transaction(engine) as session:
        row = session.get(StripeEvent, event_id)
        if row is None:
            raise NotFound(f"No stored Stripe event {event_id}.", code="event_not_found")
        if row.status == "failed":
            row.status = "pending"
            session.add(row)
    return run_event(event_id, gateway=gateway, engine=engine)


def list_events(session: Session, *, failed_only: bool = False,
                limit: int = 50) -> list[StripeEvent]:
    """Stored events, newest first (only failed ones when asked)."""
    query = select(StripeEvent).order_by(StripeEvent.received_at.desc(),
                                         StripeEvent.created.desc())
    if failed_only:
        query = query.where(StripeEvent.status == "failed")
    return list(session.exec(query.limit(limit)).all())
