"""Overage to Stripe: each paying user's month goes to each meter exactly once.

1. Plan: one `overage_reports` row per (user, month, meter) with a deterministic identifier
   (`{user_id}:{YYYY-MM}:{compute|storage}`), committed BEFORE anything is sent.
2. Send: each pending row becomes one meter event with that identifier, timestamped inside the
   month (its last second, or now for a month still open). A rerun after a crash re-sends the
   same identifier and value; Stripe answering "duplicate identifier" means an earlier attempt
   got through, so the row counts as sent.
3. Reconcile: what Stripe's meter summaries hold against what we sent, recorded per user,
   month and meter (and reported to Sentry when they differ).

These functions own their transactions (a report must be committed before Stripe is called).
The sending itself (concurrency, rate limit, retries) is `services/invoicing/reporting.py`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import sentry_sdk
import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.billing.periods import (
    month_end,
    month_key,
    month_last_second,
    month_of,
    month_start,
    previous_month,
)
from aether_web.db import db_now, get_engine, is_postgres, transaction
from aether_web.errors import InvalidInput
from aether_web.integrations.stripe import (
    COMPUTE_METER,
    LIVE_STATUSES,
    STORAGE_METER,
    StripeGateway,
)
from aether_web.models import (
    MeterReconciliation,
    OverageReport,
    Profile,
)
from aether_web.observability import log
from aether_web.services.invoicing import reporting
from aether_web.services.invoicing.planning import plan_rows
from aether_web.services.period_bill import period_bills
from aether_web.services.usage_rebuild import compute_seconds_by_user

METER_BY_KIND = {"compute": COMPUTE_METER, "storage": STORAGE_METER}
# Stripe accepts meter events up to 35 days old; we stop a little before.
STRIPE_PAST_WINDOW = timedelta(days=34)
# After a month ends, wait this long (a running VM has heartbeated past midnight, silent ones
# are known) and no longer: Stripe finalizes the period's invoice about an hour after it ends.
REPORT_DELAY = timedelta(minutes=10)
# Reports Stripe accepted, whatever the invoice gate found about them since.
ACCEPTED_OR_BILLED = ("sent", "accepted", "invoiced", "late", "item_billed")


def overage_identifier(user_id: uuid.UUID | str, month: date, kind: str) -> str:
    """The meter event identifier of one user's month on one meter (the idempotency key)."""
    if kind not in METER_BY_KIND:
        raise ValueError(f"unknown overage kind {kind!r}")
    return f"{user_id}:{month_key(month)}:{kind}"


def parse_month(text: str) -> date:
    """"2026-01" -> date(2026, 1, 1), or InvalidInput."""
    try:
        year, month = (int(part) for part in str(text).strip().split("-"))
        return date(year, month, 1)
    except ValueError as exc:
        raise InvalidInput("Give the month as YYYY-MM, e.g. 2026-01.",
                           code="invalid_month") from exc


def report_timestamp(month: date, now: datetime) -> int:
    """When the month's usage is stamped: its last second, or now while it is still open."""
    return int(min(month_last_second(month), now).timestamp())


def billable_compute_seconds(session: Session, *, month: date,
                             now: datetime) -> dict[uuid.UUID, int]:
    """Each user's compute seconds inside `month`, from the runs themselves.

    Closed runs count their seconds in the month. A run still open counts up to its last sign
    of life: a VM still heartbeating after the month ended ran through the month's end, and
    one that went silent counts only to its last heartbeat, where the orphan job closes it.
    So a run that crosses midnight is billed in full without waiting for it to stop, and
    nothing is counted that the runs don't show.
    """
    return compute_seconds_by_user(session, month=month, now=now, include_open=True)


def plan_reports(session: Session, *, month: date, now: datetime) -> int:
    """Record (pending) the overage of every paying user for `month`, as `period_bills`
    prices it on the month's plan intervals. Rows that exist stay as they are, so a month is
    never reported twice. Returns how many rows were added.
    """
    return plan_rows(session, bills=_live_bills(session, month=month, now=now), now=now)


def _live_bills(session: Session, *, month: date, now: datetime) -> Iterator[Any]:
    """The bills with overage of users with a live subscription, streamed (no IN list)."""
    live = set(session.exec(select(Profile.id).where(
        Profile.stripe_customer_id.is_not(None),
        Profile.subscription_status.in_(LIVE_STATUSES))).all())
    for bill in period_bills(session, month=month, now=now):
        if bill.user_id in live and bill.total_cents > 0:
            yield bill


def session_factory(engine: sa.Engine | None):
    return lambda: Session(engine or get_engine(), expire_on_commit=False)


@contextlib.contextmanager
def read_bills(engine: sa.Engine | None, *, month: date, now: datetime) -> Iterator[Any]:
    """The month's bills to send, read in a session of their own: streamed on PostgreSQL;
    on SQLite (one writer) read up front and the session closed before the sender writes."""
    engine = engine or get_engine()
    with Session(engine) as session:
        bills = _live_bills(session, month=month, now=now)
        if is_postgres(engine):
            yield bills
            return
        materialized = list(bills)
    yield iter(materialized)


def report_overage(*, month: date, gateway: StripeGateway | None = None,
                   engine: sa.Engine | None = None, allow_open_month: bool = False,
                   **send: Any) -> str:
    """Plan and send `month`'s overage. A month still running is refused unless
    `allow_open_month` (operators and tests); a month too old for Stripe is refused.
    `send` goes to `reporting.send_overage` (concurrency, rate, retry)."""
    with transaction(engine) as session:
        now = db_now(session)
        if month_start(month) > now:
            raise InvalidInput(f"{month_key(month)} has not started yet.", code="invalid_month")
        if month_end(month) > now and not allow_open_month:
            raise InvalidInput(f"{month_key(month)} is not over yet.", code="month_open")
        if now - month_end(month) > STRIPE_PAST_WINDOW:
            raise InvalidInput(f"{month_key(month)} is too old: Stripe only takes usage from "
                               "the last 35 days.", code="month_too_old")
    with read_bills(engine, month=month, now=now) as bills:
        summary = reporting.send_overage(session_factory(engine), bills=bills, now=now,
                                         gateway=gateway, **send)
    return f"{month_key(month)}: {summary.text()}"


# ---------------------------------------------------------------------------- reconciliation


def reconcile_month(session: Session, *, month: date, gateway: StripeGateway) -> list[
        MeterReconciliation]:
    """Compare each sent report of `month` with Stripe's meter summary for that customer and
    month; record the result and report differences (log + Sentry)."""
    reports = session.exec(
        select(OverageReport).where(OverageReport.month == month,
                                    OverageReport.status.in_(ACCEPTED_OR_BILLED))).all()
    if not reports:
        return []
    meters = gateway.active_meter_ids()
    start = int(month_start(month).timestamp())
    end = int(month_end(month).timestamp())
    now = db_now(session)
    results = []
    for report in reports:
        meter_id = meters.get(report.meter)
        stripe_units = 0 if meter_id is None else gateway.meter_usage(
            meter_id=meter_id, customer_id=report.stripe_customer_id, start=start, end=end)
        status = "match" if stripe_units == report.units else "mismatch"
        row = session.exec(select(MeterReconciliation).where(
            MeterReconciliation.user_id == report.user_id, MeterReconciliation.month == month,
            MeterReconciliation.meter == report.meter)).first()
        was = row.status if row is not None else None
        if row is None:
            row = MeterReconciliation(user_id=report.user_id, month=month, meter=report.meter,
                                      our_units=report.units, stripe_units=stripe_units,
                                      status=status)
        row.our_units, row.stripe_units, row.status = report.units, stripe_units, status
        row.checked_at = now
        session.add(row)
        results.append(row)
        if status == "mismatch":
            log.error("meter mismatch for user %s %s %s: ours %s, Stripe %s", report.user_id,
                      month_key(month), report.meter, report.units, stripe_units)
            if was != "mismatch":
                sentry_sdk.capture_message(
                    f"Stripe meter differs from our overage: {report.meter} "
                    f"{month_key(month)} ours={report.units} stripe={stripe_units}",
                    level="error")
    return results


def reconcile_recent(session: Session, *, gateway: StripeGateway) -> str:
    """The scheduled job: reconcile last month and this month."""
    now = db_now(session)
    checked = []
    for month in (previous_month(month_of(now)), month_of(now)):
        checked += reconcile_month(session, month=month, gateway=gateway)
    bad = sum(1 for row in checked if row.status == "mismatch")
    return f"checked {len(checked)} meter totals, {bad} differ"


def open_mismatches(session: Session) -> list[MeterReconciliation]:
    """Differences support should look at, newest first."""
    return list(session.exec(select(MeterReconciliation)
                             .where(MeterReconciliation.status == "mismatch")
                             .order_by(MeterReconciliation.checked_at.desc())).all())
