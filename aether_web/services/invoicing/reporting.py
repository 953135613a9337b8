"""Each paying user's period overage to Stripe's meters: many at once, within Stripe's rate
limit, retried until Stripe answers, recorded in batches.

- One `overage_reports` row per (user, month, meter) with a deterministic identifier is
  inserted (`pending`, `invoicing.planning.plan_rows`) and committed before anything is sent. The stored value is what is sent,
  always under the same identifier and idempotency key, so a retry or a rerun never counts
  twice; a rerun finds the rows `accepted` and sends nothing.
- Sends run concurrently on stripe-python's async client (httpx) in a thread of their own,
  paced by a token bucket below Stripe's meter-event limit (1,000/s). A 429, a 5xx, a timeout
  or a lost connection is retried with exponential backoff and jitter until Stripe answers (or
  the run's deadline passes: the row stays `pending`, never failed, and the next run goes on).
- A 2xx (or "an event with this identifier exists": an earlier attempt got through) makes the
  row `accepted`; a 4xx refusal makes it `refused` and raises an alert (log, Sentry, metric).
- Database work (planning, status updates) happens in batches in the calling thread, so memory
  is bounded by the batch size and the send queue, not by the number of users.

`send_overage` commits (the rows before sending, the statuses after): it owns its transactions.
"""

from __future__ import annotations

import itertools
import queue
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from aether_web.db import db_now
from aether_web.integrations.stripe import StripeGateway
from aether_web.models import OverageReport
from aether_web.services.invoicing.planning import KINDS, plan_rows
from aether_web.services.invoicing.sending import (
    RetryPolicy,
    SenderThread,
    SendOutcome,
    SendTask,
    alert_refused,
    send_with_retries,
)

__all__ = ["RetryPolicy", "SendSummary", "ensure_overage_accepted", "send_overage",
           "send_pending"]

SessionFactory = Callable[[], AbstractContextManager[Session]]
BATCH = 500


@dataclass
class SendSummary:
    """What a run did: bills read, rows planned, Stripe's answers, what is left pending."""

    bills: int = 0
    planned: int = 0
    accepted: int = 0
    already_in_stripe: int = 0
    refused: int = 0
    pending: int = 0
    calls: int = 0
    no_customer: int = 0

    def text(self) -> str:
        return (f"{self.bills} bills, {self.planned} new reports; accepted {self.accepted} "
                f"(already in Stripe {self.already_in_stripe}), refused {self.refused}, "
                f"still pending {self.pending}; {self.calls} Stripe calls")


def _pending_tasks(session: Session, where: Any) -> list[SendTask]:
    t = OverageReport.__table__.c
    rows = session.execute(
        sa.select(t.id, t.identifier, t.meter, t.stripe_customer_id, t.units,
                  t.event_timestamp).where(t.status == "pending", where)).all()
    return [SendTask(*row) for row in rows]


# ------------------------------------------------------------------------------ recording


def _record(session: Session, outcomes: list[SendOutcome], summary: SendSummary) -> None:
    """Write a batch of Stripe's answers; only rows still `pending` change."""
    if not outcomes:
        return
    now = db_now(session)
    t = OverageReport.__table__.c
    by_status: dict[str, list[dict[str, Any]]] = {}
    for o in outcomes:
        summary.calls += o.attempts
        if o.status == "accepted":
            summary.accepted += 1
            summary.already_in_stripe += o.duplicate
        elif o.status == "refused":
            summary.refused += 1
        else:
            summary.pending += 1
        param = {"rid": o.task.id, "n": o.attempts, "err": o.error}
        if o.status == "accepted":
            param["at"] = now
        by_status.setdefault(o.status, []).append(param)
    for status, params in by_status.items():
        stmt = (sa.update(OverageReport.__table__)
                .where(t.id == sa.bindparam("rid"), t.status == "pending")
                .values(status=status, attempts=t.attempts + sa.bindparam("n"),
                        last_error=sa.bindparam("err"),
                        sent_at=sa.bindparam("at") if status == "accepted" else t.sent_at))
        session.connection().execute(stmt, params)
    for o in outcomes:
        if o.status == "refused":
            alert_refused(o.task, o.error or "")


# ------------------------------------------------------------------------------ the runs


def _default_factory() -> SessionFactory:
    from aether_web.db import get_engine

    return lambda: Session(get_engine(), expire_on_commit=False)


def _run(session_factory: SessionFactory, chunks: Iterable[list[SendTask]], *,
         gateway: StripeGateway | None, concurrency: int, rate: float, retry: RetryPolicy,
         summary: SendSummary, batch_size: int, timeout: float) -> SendSummary:
    sender = SenderThread(gateway, concurrency=concurrency, rate=rate, retry=retry,
                          timeout=timeout)
    sender.start()
    done: list[SendOutcome] = []
    submitted = 0

    def flush(limit: int) -> None:
        while len(done) >= limit and done:
            batch, done[:] = done[:batch_size], done[batch_size:]
            with session_factory() as session:
                _record(session, batch, summary)
                session.commit()

    try:
        for tasks in chunks:
            submitted += len(tasks)
            sender.submit(tasks)  # blocks while the send queue is full
            done.extend(sender.drain())
            flush(batch_size)
        sender.close()
        received = summary.accepted + summary.refused + summary.pending + len(done)
        while received < submitted:
            try:
                got = sender.results.get(timeout=1.0)
            except queue.Empty:
                sender.raise_if_dead()
                continue
            done.append(got)
            done.extend(sender.drain())
            received = summary.accepted + summary.refused + summary.pending + len(done)
            flush(batch_size)
        flush(1)
    finally:
        sender.stop()
    return summary


def send_overage(session_factory: SessionFactory | None = None, *, bills: Iterable[Any],
                 now: datetime, gateway: StripeGateway | None = None, concurrency: int = 64,
                 rate: float = 900.0, retry: RetryPolicy | None = None,
                 batch_size: int = BATCH, timeout: float = 20.0) -> SendSummary:
    """Plan and send the overage of many users (`bills`: `PeriodBill`s, read lazily in
    batches of `batch_size`) and record Stripe's answers. Commits. `concurrency` calls at once,
    at most `rate` per second, each given up after `timeout` seconds (then retried).
    `gateway`: an async-capable gateway used as is, in the sender's own event loop (default:
    a sender gateway of its own, closed at the end).

    On SQLite `bills` must not hold a transaction open while this writes (give a list).
    """
    summary = SendSummary()
    factory = session_factory or _default_factory()
    iterator = iter(bills)

    def chunks() -> Iterable[list[SendTask]]:
        while batch := list(itertools.islice(iterator, batch_size)):
            summary.bills += len(batch)
            with factory() as session:
                summary.planned += plan_rows(session, bills=batch, now=now, summary=summary)
                session.commit()
                idents = [f"{b.user_id}:{b.month:%Y-%m}:{k}" for b in batch for k in KINDS]
                tasks = _pending_tasks(session, OverageReport.__table__.c.identifier.in_(idents))
            if tasks:
                yield tasks

    return _run(factory, chunks(), gateway=gateway, concurrency=concurrency, rate=rate,
                retry=retry or RetryPolicy(), summary=summary, batch_size=batch_size,
                timeout=timeout)


def send_pending(session_factory: SessionFactory | None = None, *, month: date | None = None,
                 gateway: StripeGateway | None = None, concurrency: int = 64,
                 rate: float = 900.0, retry: RetryPolicy | None = None,
                 batch_size: int = BATCH, timeout: float = 20.0) -> SendSummary:
    """Send every `pending` row (of `month`, or of any month) again, in id order. Commits."""
    factory = session_factory or _default_factory()
    t = OverageReport.__table__.c

    def chunks() -> Iterable[list[SendTask]]:
        after: uuid.UUID | None = None
        while True:
            where = sa.true() if month is None else t.month == month
            if after is not None:
                where = sa.and_(where, t.id > after)
            with factory() as session:
                rows = session.execute(sa.select(t.id).where(t.status == "pending", where)
                                       .order_by(t.id).limit(batch_size)).scalars().all()
                if not rows:
                    return
                tasks = _pending_tasks(session, t.id.in_(rows))
            after = rows[-1]
            if tasks:
                yield tasks

    return _run(factory, chunks(), gateway=gateway, concurrency=concurrency, rate=rate,
                retry=retry or RetryPolicy(), summary=SendSummary(), batch_size=batch_size,
                timeout=timeout)


def ensure_overage_accepted(session: Session, *, user_id: uuid.UUID, month: date,
                            now: datetime, gateway: StripeGateway | None = None,
                            deadline_seconds: float = 8.0,
                            bill: Any | None = None) -> SendSummary:
    """Make sure one user's overage of `month` (`bill`, by default `period_bill`) is planned
    and accepted by Stripe (the invoice gate calls this before answering `invoice.created`). Sends synchronously with retries for
    up to `deadline_seconds`; `summary.pending > 0` means Stripe did not answer in time (answer
    5xx so Stripe asks again). Works in the caller's transaction and never commits: the
    identifier makes a send that is rolled back and repeated count once."""
    from aether_web.integrations.stripe import get_gateway
    from aether_web.services.period_bill import period_bill

    summary = SendSummary()
    if bill is None:
        bill = period_bill(session, user_id=user_id, month=month, now=now)
    summary.bills = 1
    summary.planned = plan_rows(session, bills=[bill], now=now, summary=summary)
    t = OverageReport.__table__.c
    tasks = _pending_tasks(session, sa.and_(t.user_id == user_id, t.month == month))
    gw = gateway or get_gateway()
    deadline = time.monotonic() + deadline_seconds
    outcomes = [send_with_retries(gw, task, RetryPolicy(deadline_seconds=max(
        0.0, deadline - time.monotonic()))) for task in tasks]
    _record(session, outcomes, summary)
    return summary

