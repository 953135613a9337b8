"""How long operational rows are kept: job runs and processed Stripe events.

(Hook answers have their own rule beside the hooks: `services.hook_events.purge_hook_events`.)
Deletions go in batches, each bounded, so one purge never holds a huge transaction's locks.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session

from aether_web.db import db_now
from aether_web.models import JobRun, StripeEvent

JOB_RUNS_KEPT = timedelta(days=30)
# Stripe retries a webhook for 3 days and keeps events 30 days; replays need the raw event.
STRIPE_EVENTS_KEPT = timedelta(days=90)
BATCH = 5000
MAX_BATCHES = 20


def _delete_in_batches(session: Session, table, key, where) -> int:
    total = 0
    for _ in range(MAX_BATCHES):
        ids = sa.select(key).where(where).limit(BATCH).scalar_subquery()
        gone = session.execute(sa.delete(table).where(where, key.in_(ids))).rowcount or 0
        total += gone
        if gone < BATCH:
            break
    return total


def purge_job_runs(session: Session, *, keep: timedelta = JOB_RUNS_KEPT) -> int:
    """Delete finished job runs older than `keep`, always keeping each job's newest success
    (its age is what the monitors alert on). Returns how many rows went."""
    cutoff = db_now(session) - keep
    newest_ok = (sa.select(sa.func.max(JobRun.id)).where(JobRun.status == "succeeded")
                 .group_by(JobRun.job_name))
    where = sa.and_(JobRun.started_at < cutoff, JobRun.status != "running",
                    JobRun.id.not_in(newest_ok))
    return _delete_in_batches(session, JobRun.__table__, JobRun.__table__.c.id, where)


def purge_stripe_events(session: Session, *, keep: timedelta = STRIPE_EVENTS_KEPT) -> int:
    """Delete processed or ignored Stripe events received more than `keep` ago; pending and
    failed ones stay until they are handled. Returns how many rows went."""
    cutoff = db_now(session) - keep
    table = StripeEvent.__table__
    where = sa.and_(table.c.status.in_(("processed", "ignored")), table.c.received_at < cutoff)
    return _delete_in_batches(session, table, table.c.id, where)
