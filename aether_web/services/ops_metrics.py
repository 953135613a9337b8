"""What the operators' gauges read from the database at scrape time (`GET /api/metrics`):
rows waiting for work in each queue, the oldest unprocessed Stripe event, open VM runs and the
drift found by the daily rebuild. Job figures are `jobs.status.job_readings`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from aether_web.db import db_now
from aether_web.models import (
    DriftReport,
    EmailOutbox,
    OverageAdjustment,
    OverageReport,
    Run,
    StripeEvent,
)

# The queues whose rows wait for work, and the statuses counted as waiting.
BACKLOG_MODELS = (StripeEvent, OverageReport, EmailOutbox, OverageAdjustment)
BACKLOG_STATUSES = ("pending", "failed")


@dataclass(frozen=True)
class OpsReading:
    now: datetime  # the database's clock (`db_now`, as every stored time)
    backlog: dict[str, dict[str, int]]  # table name -> {status: rows}, every BACKLOG_STATUSES
    oldest_pending_event_at: datetime | None  # the oldest pending stripe_events row
    open_runs: int  # usage_records not ended
    drift_reports: int


def read_ops(session: Session) -> OpsReading:
    """One query per figure; nothing is written."""
    backlog: dict[str, dict[str, int]] = {}
    for model in BACKLOG_MODELS:
        table = model.__table__  # type: ignore[union-attr]
        found = dict(session.exec(  # type: ignore[call-overload]
            sa.select(table.c.status, sa.func.count())
            .where(table.c.status.in_(BACKLOG_STATUSES)).group_by(table.c.status)).all())
        backlog[table.name] = {status: found.get(status, 0) for status in BACKLOG_STATUSES}
    events = StripeEvent.__table__.c  # type: ignore[attr-defined]
    runs = Run.__table__.c  # type: ignore[attr-defined]
    return OpsReading(
        now=db_now(session),
        backlog=backlog,
        oldest_pending_event_at=session.exec(  # type: ignore[call-overload]
            sa.select(sa.func.min(events.received_at)).where(events.status == "pending")
        ).one()[0],
        open_runs=session.exec(  # type: ignore[call-overload]
            sa.select(sa.func.count()).select_from(Run.__table__)  # type: ignore[attr-defined]
            .where(runs.ended_at.is_(None))).one()[0],
        drift_reports=session.exec(  # type: ignore[call-overload]
            sa.select(sa.func.count()).select_from(DriftReport.__table__)  # type: ignore[attr-defined]
        ).one()[0],
    )
