"""The /billing page's services: the daily compute chart and the next invoice's preview."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from aether_web.billing.daily import daily_compute_seconds
from aether_web.db import is_postgres
from aether_web.integrations.stripe import COMPUTE_METER, StripeUnavailable
from aether_web.models import Run
from aether_web.services.daily_usage import daily_compute, month_runs
from aether_web.services.upcoming_invoice import upcoming_invoice
from tests.integration.stripe_support import Bed, bed, billing_bed

FIXTURES = (bed, billing_bed)  # used by name by pytest


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _run(project, start, end=None) -> Run:
    return Run(project_id=project.id, user_id=project.user_id, started_at=start,
                       ended_at=end, last_heartbeat_at=end or start,
                       duration_seconds=int((end - start).total_seconds()) if end else None)


def test_daily_compute_counts_this_months_runs_per_day(engine, make_user, make_project):
    user, other = make_user(), make_user()
    project, others = make_project(user), make_project(other)
    now = at(2026, 3, 10, 12)
    with Session(engine) as s:
        s.add_all([
            _run(project, at(2026, 1, 5, 8), at(2026, 1, 5, 20)),  # an older month: ignored
            _run(project, at(2026, 2, 28, 23), at(2026, 3, 1, 2)),  # 2 h in March
            _run(project, at(2026, 3, 4, 23, 30), at(2026, 3, 5, 0, 30)),  # across midnight
            _run(others, at(2026, 3, 4, 10), at(2026, 3, 4, 20)),  # someone else's
            _run(project, at(2026, 3, 6, 10), at(2026, 3, 6, 11, 30)),  # within one day
            _run(project, at(2026, 3, 6, 23), at(2026, 3, 7)),  # ends at midnight
        ])
        s.commit()
    with Session(engine) as s:
        open_project = make_project(user)
        s.add(_run(open_project, at(2026, 3, 10, 9)))  # open: 3 h up to now
        s.commit()
        series = dict(daily_compute(s, user_id=user.id, now=now))
    assert len(series) == 31
    assert series[date(2026, 3, 1)] == 7200
    assert series[date(2026, 3, 4)] == 1800 and series[date(2026, 3, 5)] == 1800
    assert series[date(2026, 3, 10)] == 3 * 3600
    assert series[date(2026, 3, 6)] == 5400 + 3600 and series[date(2026, 3, 7)] == 0
    assert series[date(2026, 3, 11)] == 0
    assert sum(series.values()) == 7200 + 3600 + 9000 + 3 * 3600


def test_daily_compute_in_sql_equals_splitting_every_run(engine, make_user, make_project):
    user = make_user()
    projects = [make_project(user) for _ in range(3)]
    rng = random.Random(3)
    now = at(2026, 3, 20, 15, 45, 10)
    with Session(engine) as s:
        for i in range(300):
            start = at(2026, 2, 26) + timedelta(seconds=rng.randrange(0, 22 * 86400))
            end = start + timedelta(seconds=rng.choice([60, 600, 5000, 40000, 200000]))
            if end <= now:
                s.add(_run(projects[i % 3], start, end))
        s.add(_run(projects[0], at(2026, 3, 20, 15), None))
        s.commit()
    with Session(engine) as s:
        fast = dict(daily_compute(s, user_id=user.id, now=now))
        runs = month_runs(s, user_id=user.id, month=date(2026, 3, 1))
    assert fast == daily_compute_seconds(runs, month=date(2026, 3, 1), now=now)
    assert sum(fast.values()) > 0


OLD_RUNS = 2000


def test_daily_compute_reads_the_month_through_the_user_end_index(engine, make_user,
                                                                  make_project):
    """The statements `daily_compute` and `month_runs` send, as the database plans them on a
    user's long history (and other users' runs this month)."""
    user, other = make_user(), make_user()
    project, others = make_project(user), make_project(other)
    with Session(engine) as s:
        s.add_all(_run(project, at(2025, 1, 1) + timedelta(hours=3 * i),
                       at(2025, 1, 1) + timedelta(hours=3 * i + 1)) for i in range(OLD_RUNS))
        s.add_all(_run(others, at(2026, 3, 1) + timedelta(hours=i),
                       at(2026, 3, 1) + timedelta(hours=i, minutes=30)) for i in range(400))
        s.add(_run(project, at(2026, 3, 20, 15), None))
        s.commit()
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE usage_records" if is_postgres(conn) else "ANALYZE")
    sent = []

    def remember(_conn, _cursor, statement, parameters, _context, _many):
        if "usage_records" in statement:
            sent.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", remember)
    try:
        with Session(engine) as s:
            daily_compute(s, user_id=user.id, now=at(2026, 3, 20, 15, 45, 10))
            month_runs(s, user_id=user.id, month=date(2026, 3, 1))
    finally:
        sa.event.remove(engine, "before_cursor_execute", remember)
    assert len(sent) == 3
    for statement, parameters in sent:
        with engine.connect() as conn:
            if is_postgres(conn):
                # PostgreSQL picks its index by the statistics: what counts is that the user's
                # older history is not read (rows its scans of the runs read, kept or not).
                plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}",
                                            parameters).scalar()
                assert _runs_read(plan[0]["Plan"]) < OLD_RUNS, (statement, plan)
            else:
                plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}",
                                            parameters).all()
                detail = " ".join(str(row[-1]) for row in plan)
                assert "ix_usage_records_user_ended" in detail, (statement, detail)


def _runs_read(node: dict) -> int:
    read = 0
    if node.get("Relation Name") == "usage_records":
        read = (node["Actual Rows"] * node["Actual Loops"] + node.get("Rows Removed by Filter", 0)
                + node.get("Rows Removed by Index Recheck", 0))
    return read + sum(_runs_read(child) for child in node.get("Plans", []))


def test_no_preview_without_a_subscription(engine, make_user):
    user = make_user()

    class Refusing:
        def invoice_preview(self, **kwargs):
            raise AssertionError("Stripe must not be asked")

    with Session(engine) as s:
        assert upcoming_invoice(s, user_id=user.id, gateway=Refusing()) is None


def test_preview_is_none_when_stripe_is_not_answering(engine, make_user):
    user = make_user(plan="pro", stripe_customer_id="cus_x", stripe_subscription_id="sub_x",
                     subscription_status="active")

    class Down:
        def invoice_preview(self, **kwargs):
            raise StripeUnavailable()

    with Session(engine) as s:
        assert upcoming_invoice(s, user_id=user.id, gateway=Down()) is None


def test_preview_shows_the_next_invoice_of_a_subscriber(bed: Bed, make_user, client_for):
    user = make_user()
    assert bed.checkout(client_for(user), "pro").status_code == 303
    profile = bed.wait_for_plan(user.id, "pro")
    with Session(bed.engine) as s:
        preview = upcoming_invoice(s, user_id=profile.id, gateway=bed.gateway)
    assert preview is not None
    assert preview.total_cents == 2000  # the next month's Pro price, no overage yet
    assert preview.metered_cents == 0
    assert preview.estimate_cents(20) == 2020  # plus the overage counted so far
    assert preview.next_payment_at is not None
    assert preview.next_payment_at > datetime.now(UTC) - timedelta(minutes=1)

    # Once usage of this period is on the meters, the estimate counts it once, not twice.
    bed.gateway.send_meter_event(event_name=COMPUTE_METER, identifier="dash-test-1",
                                 customer_id=profile.stripe_customer_id, value=50,
                                 timestamp=int(datetime.now(UTC).timestamp()))
    with Session(bed.engine) as s:
        preview = upcoming_invoice(s, user_id=profile.id, gateway=bed.gateway)
    assert preview is not None
    assert preview.amount_due_cents == 2050 and preview.metered_cents == 50
    assert preview.estimate_cents(50) == 2050
