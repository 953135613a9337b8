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
from dataclasses import dataclass
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
from aether_web.db import db_now, get_engine, is_postgres, read_transaction, transaction
from aether_web.errors import InvalidInput
from aether_web.integrations.stripe import (
    COMPUTE_METER,
    LIVE_STATUSES,
    STORAGE_METER,
    StripeGateway,
    StripeGatewayError,
    StripeUnavailable,
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
            try:
                yield bills
            finally:  # the stream holds the connection: end it before the session does
                bills.close()
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


# Meter checks one run of `reconcile_meters` makes at most (one after another, so about
# 7 a second at 150 ms each): it caps the calls a run spends, well under Stripe's limits,
# which the invoice gate and the plan switches need too.
RECONCILE_BATCH = 1000


@dataclass(frozen=True)
class MeterCheck:
    """One sent report to compare with Stripe's meter summary."""

    user_id: uuid.UUID
    month: date
    meter: str
    customer_id: str
    units: int


def reports_to_check(session: Session, *, months: list[date], settled_month: date | None = None,
                     limit: int | None = None) -> list[MeterCheck]:
    """The sent reports of `months`, never checked first. Reports of `settled_month` that
    matched Stripe after it closed are left out: their identifier is the only event of that
    customer, month and meter, and a closed month's events are never taken back, so a match
    stays one."""
    r, m = OverageReport.__table__.c, MeterReconciliation.__table__.c
    checked = sa.and_(m.user_id == r.user_id, m.month == r.month, m.meter == r.meter)
    query = (sa.select(r.user_id, r.month, r.meter, r.stripe_customer_id, r.units)
             .select_from(OverageReport.__table__.outerjoin(MeterReconciliation.__table__,
                                                            checked))
             .where(r.month.in_(months), r.status.in_(ACCEPTED_OR_BILLED)))
    if settled_month is not None:
        query = query.where(sa.or_(r.month != settled_month, m.id.is_(None),
                                   m.status != "match", m.our_units != r.units,
                                   # a match seen before the month closed is checked again
                                   m.checked_at < month_end(settled_month)))
    query = query.order_by(m.checked_at.asc().nulls_first(), r.user_id, r.meter)
    if limit is not None:
        query = query.limit(limit)
    return [MeterCheck(*row) for row in session.execute(query).all()]


def stripe_units(checks: list[MeterCheck], *, gateway: StripeGateway) -> list[
        tuple[MeterCheck, int]]:
    """What Stripe's meter summary holds for each check (call outside any transaction).
    A check Stripe refuses is logged and left for the next run; when Stripe stops answering,
    the checks answered so far are returned and the rest wait for the next run."""
    if not checks:
        return []
    meters = gateway.active_meter_ids()
    results = []
    for check in checks:
        meter_id = meters.get(check.meter)
        try:
            theirs = 0 if meter_id is None else gateway.meter_usage(
                meter_id=meter_id, customer_id=check.customer_id,
                start=int(month_start(check.month).timestamp()),
                end=int(month_end(check.month).timestamp()))
        except StripeUnavailable:
            log.warning("meter check: Stripe is not answering; %d of %d checks left for the "
                        "next run", len(checks) - len(results), len(checks))
            break
        except StripeGatewayError as exc:
            log.warning("meter check of user %s %s refused: %s", check.user_id, check.meter,
                        exc.stripe_message)
            continue
        results.append((check, theirs))
    return results


def record_checks(session: Session, results: list[tuple[MeterCheck, int]], *,
                  now: datetime) -> list[MeterReconciliation]:
    """Write each comparison to `meter_reconciliations`; a difference is logged, and sent to
    Sentry when it is new."""
    rows: list[MeterReconciliation] = []
    if not results:
        return rows
    m = MeterReconciliation
    known = {(row.user_id, row.month, row.meter): row for row in session.exec(select(m).where(
        m.user_id.in_({check.user_id for check, _ in results}),  # type: ignore[attr-defined]
        m.month.in_({check.month for check, _ in results}))).all()}  # type: ignore[attr-defined]
    for check, theirs in results:
        status = "match" if theirs == check.units else "mismatch"
        row = known.get((check.user_id, check.month, check.meter))
        was = row.status if row is not None else None
        if row is None:
            row = MeterReconciliation(user_id=check.user_id, month=check.month,
                                      meter=check.meter, our_units=check.units,
                                      stripe_units=theirs, status=status)
        row.our_units, row.stripe_units, row.status = check.units, theirs, status
        row.checked_at = now
        session.add(row)
        rows.append(row)
        if status == "mismatch":
            log.error("meter mismatch for user %s %s %s: ours %s, Stripe %s", check.user_id,
                      month_key(check.month), check.meter, check.units, theirs)
            if was != "mismatch":
                sentry_sdk.capture_message(
                    f"Stripe meter differs from our overage: {check.meter} "
                    f"{month_key(check.month)} ours={check.units} stripe={theirs}",
                    level="error")
    return rows


def reconcile_month(session: Session, *, month: date, gateway: StripeGateway) -> list[
        MeterReconciliation]:
    """The operator's check (`stripe reconcile`): every sent report of `month`, matched ones
    too, compared and recorded in the caller's transaction."""
    checks = reports_to_check(session, months=[month])
    return record_checks(session, stripe_units(checks, gateway=gateway), now=db_now(session))


def reconcile_recent(*, gateway: StripeGateway, engine: sa.Engine | None = None,
                     batch: int = RECONCILE_BATCH) -> str:
    """The scheduled job: last month's reports not yet matched and this month's, at most
    `batch` a run (the rest next run). Owns its transactions: the reports are read in a
    read-only one, Stripe is asked outside any, the results are written in a short one."""
    with read_transaction(engine) as session:
        now = db_now(session)
        last = previous_month(month_of(now))
        checks = reports_to_check(session, months=[last, month_of(now)], settled_month=last,
                                  limit=batch)
    results = stripe_units(checks, gateway=gateway)
    with transaction(engine) as session:
        rows = record_checks(session, results, now=db_now(session))
    bad = sum(1 for row in rows if row.status == "mismatch")
    return f"checked {len(rows)} meter totals, {bad} differ"


def open_mismatches(session: Session) -> list[MeterReconciliation]:
    """Differences support should look at, newest first."""
    return list(session.exec(select(MeterReconciliation)
                             .where(MeterReconciliation.status == "mismatch")
                             .order_by(MeterReconciliation.checked_at.desc())).all())
