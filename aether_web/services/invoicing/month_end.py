"""The month end: right after a month is over, every paying user's overage of it goes to
Stripe (planned once per month, sent by `reporting.py`), and whatever Stripe did not answer is
sent again on the next runs until it did. Only one run at a time does anything.

How does overage reach Stripe? Start here (job `send_month_end_overage`, every minute):
1. The month's bills come from `services.period_bill` (the one computation; read through
   `services.overage.read_bills`), priced in whole cents by `billing.pricing`.
2. `planning.plan_rows` records one `pending` `overage_reports` row per user, month and meter
   with the identifier `{user_id}:{YYYY-MM}:{compute|storage}` (`services.overage`), committed
   before anything is sent, so a month is never reported twice.
3. `reporting.send_overage` sends each row as one meter event (`sending`: concurrency, a token
   bucket under Stripe's rate limit, retries under the same identifier); a row becomes
   `accepted`, or `refused` (alerted), never failed while Stripe is merely down.
4. Stripe's renewal invoice starts as a draft: its `invoice.created` webhook runs
   `invoice_gate`, which makes sure that period's overage is accepted before answering 2xx
   (`recheck_invoices` stands in for a missed webhook).
5. On `invoice.finalized`, `reconcile` compares the invoice's metered lines with our bill; a
   shortfall becomes one labelled invoice item (`adjustments`, job `bill_overage_items`).

Owns its transactions (reports are committed before Stripe is called).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.billing.periods import month_end, month_key, month_of, previous_month
from aether_web.db import db_now, get_engine, is_postgres, transaction
from aether_web.integrations.stripe import StripeGateway
from aether_web.models import OverageMonth, OverageReport
from aether_web.services.invoicing import reporting
from aether_web.services.overage import (
    REPORT_DELAY,
    STRIPE_PAST_WINDOW,
    read_bills,
    session_factory,
)

# A run retries for this long at most; what is still pending waits for the next run.
RUN_DEADLINE_SECONDS = 20 * 60

_LOCAL_RUN = threading.Lock()
# pg_try_advisory_lock key of the month-end run ("aether month end")
_PG_LOCK_KEY = 0x61657468_6D656E64


@contextlib.contextmanager
def _single_run(engine: sa.Engine) -> Iterator[bool]:
    """True while this is the only month-end run (a PostgreSQL advisory lock across
    processes; a process lock on SQLite)."""
    if not is_postgres(engine):
        got = _LOCAL_RUN.acquire(blocking=False)
        try:
            yield got
        finally:
            if got:
                _LOCAL_RUN.release()
        return
    with engine.connect() as conn:
        got = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"),
                                {"k": _PG_LOCK_KEY}).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()


def run_month_end(*, engine: sa.Engine | None = None, gateway: StripeGateway | None = None,
                  **send: Any) -> str:
    """The scheduled job: once last month has been over for REPORT_DELAY, plan and send every
    paying user's overage of it (once: `overage_months`); then send again whatever is still
    pending (Stripe was down). Only one run at a time does anything."""
    engine = engine or get_engine()
    send.setdefault("retry", reporting.RetryPolicy(deadline_seconds=RUN_DEADLINE_SECONDS))
    with _single_run(engine) as alone:
        if not alone:
            return "another month-end run is in progress"
        with transaction(engine) as session:
            now = db_now(session)
            month = previous_month(month_of(now))
            due = month_end(month) + REPORT_DELAY <= now <= month_end(month) + STRIPE_PAST_WINDOW
            record = session.get(OverageMonth, month) if due else None
            if due and record is None:
                record = OverageMonth(month=month, started_at=now)
                session.add(record)
            plan = due and record is not None and record.planned_at is None
        parts = []
        factory = session_factory(engine)
        stripe_down = False
        if plan:
            with read_bills(engine, month=month, now=now) as bills:
                summary = reporting.send_overage(factory, bills=bills, now=now,
                                                 gateway=gateway, **send)
            with transaction(engine) as session:
                record = session.get(OverageMonth, month)
                assert record is not None
                record.planned_at = db_now(session)
                record.bills, record.reports = summary.bills, summary.planned
            parts.append(f"{month_key(month)}: {summary.text()}")
            # what Stripe did not answer within this run's deadline waits for the next run
            stripe_down = summary.pending > 0
        if not stripe_down:
            retried = reporting.send_pending(factory, gateway=gateway, **send)
            if retried.calls:
                parts.append(f"pending sent again: {retried.text()}")
        with transaction(engine) as session:
            _mark_accepted(session)
    return "; ".join(parts) or "nothing to send"


def _mark_accepted(session: Session) -> None:
    """Months whose reports Stripe has all answered get their `accepted_at`."""
    open_months = session.exec(select(OverageMonth).where(
        OverageMonth.planned_at.is_not(None), OverageMonth.accepted_at.is_(None))).all()
    for record in open_months:
        left = session.exec(select(sa.func.count()).select_from(OverageReport).where(
            OverageReport.month == record.month, OverageReport.status == "pending")).one()
        if not left:
            record.accepted_at = db_now(session)
            session.add(record)
