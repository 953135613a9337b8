"""`services.period_bill`: the SQL aggregation equals the pure rules on the same records, and
plan changes write gap-free plan intervals (SQLite and PostgreSQL)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, select

from aether_web.billing.period_bill import (
    RunSpan,
    build_period_bill,
    usage_from_records,
)
from aether_web.billing.period_bill import (
    StorageSample as SampleSpan,
)
from aether_web.billing.periods import month_end, month_start
from aether_web.billing.plan_history import check_history
from aether_web.billing.plans import BYTES_PER_GB
from aether_web.models import PlanIntervalRow, Profile, Run, StorageSample
from aether_web.services.period_bill import period_bill, period_bills
from aether_web.services.plan_history import change_plan, plan_intervals
from aether_web.services.runs import HEARTBEAT_TIMEOUT


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _history(session, user, changes):
    """changes: [(moment, plan, cause)] applied in order through change_plan."""
    profile = session.get(Profile, user.id)
    for moment, plan, cause in changes:
        change_plan(session, profile=profile, plan=plan, cause=cause, at=moment)
    session.commit()


def test_plan_changes_leave_no_gap_and_no_overlap(engine, make_user):
    user = make_user()
    with Session(engine) as s:
        _history(s, user, [(at(2026, 11, 3), "pro", "checkout"),
                           (at(2026, 11, 28), "team", "switch"),
                           (at(2026, 11, 28), "pro", "switch"),  # same second: replaces
                           (at(2026, 12, 1), "free", "cancellation"),
                           (at(2026, 12, 2, 9), "free", "support")])  # no change
        rows = s.exec(select(PlanIntervalRow).where(PlanIntervalRow.user_id == user.id)
                      .order_by(PlanIntervalRow.started_at)).all()
        assert [(r.plan, r.cause) for r in rows] == [
            ("free", "backfill"), ("pro", "checkout"), ("pro", "switch"),
            ("free", "cancellation")]
        assert rows[-1].ended_at is None
        intervals = plan_intervals(s, user_id=user.id)
        check_history(intervals)
        assert s.get(Profile, user.id).plan == "free"


def test_team_to_pro_on_the_28th_with_400_hours(engine, make_user, make_project):
    user = make_user(plan="team")
    project = make_project(user, name="api")
    with Session(engine) as s:
        _history(s, user, [(at(2026, 11, 28), "pro", "switch")])
        s.add(Run(project_id=project.id, user_id=user.id, started_at=at(2026, 11, 2),
                          ended_at=at(2026, 11, 2) + timedelta(hours=400)))
        s.commit()
        bill = period_bill(s, user_id=user.id, month=date(2026, 11, 1), now=at(2026, 12, 2))
    # Team 27/30 of 500 h + Pro 3/30 of 200 h = 450 h + 20 h = 470 h included
    assert bill.included_compute_seconds == 470 * 3600
    assert bill.counted_compute_seconds == 400 * 3600
    assert bill.total_cents == 0
    assert [iv.plan for iv in bill.intervals] == ["team", "pro"]
    assert bill.projects[0].name == "api"


def _random_world(s, rng, users, projects, month):
    start = month_start(month)
    for user in users:
        t = start - timedelta(days=rng.randint(0, 40))
        changes = []
        for _ in range(rng.randint(0, 4)):
            t += timedelta(seconds=rng.randint(1, 20 * 86400))
            changes.append((t, rng.choice(["free", "pro", "team"]), "support"))
        _history(s, user, changes)
    for project in projects:
        for _ in range(rng.randint(0, 5)):
            a = start + timedelta(seconds=rng.randint(-5 * 86400, 32 * 86400))
            d = timedelta(seconds=rng.randint(0, 300 * 3600))
            s.add(Run(project_id=project.id, user_id=project.user_id, started_at=a,
                              ended_at=a + d, last_heartbeat_at=a + d))
        for _ in range(rng.randint(0, 4)):
            s.add(StorageSample(project_id=project.id, user_id=project.user_id,
                                at=start + timedelta(seconds=rng.randint(-3 * 86400, 31 * 86400)),
                                bytes_used=rng.randint(0, 70 * BYTES_PER_GB)))
    # a project deleted during the month: its storage ends there
    projects[2].deleted_at = start + timedelta(seconds=rng.randint(1, 27 * 86400))
    s.add(projects[2])
    # one open run, heartbeating, and one open run gone silent
    s.add(Run(project_id=projects[0].id, user_id=projects[0].user_id,
                      started_at=start + timedelta(days=20),
                      last_heartbeat_at=start + timedelta(days=20, hours=5)))
    s.add(Run(project_id=projects[1].id, user_id=projects[1].user_id,
                      started_at=start + timedelta(days=25),
                      last_heartbeat_at=start + timedelta(days=35)))
    s.commit()


@pytest.mark.parametrize("seed", [1, 2])
def test_sql_aggregation_equals_the_pure_rules(engine, make_user, make_project, seed):
    rng = random.Random(seed)
    month = date(2026, 2, 1) if seed == 1 else date(2026, 3, 1)
    users = [make_user() for _ in range(4)]
    projects = [make_project(u) for u in users for _ in range(2)]
    with Session(engine) as s:
        _random_world(s, rng, users, projects, month)
        for now in (month_start(month) + timedelta(days=30, hours=3),
                    month_end(month) + timedelta(days=40)):
            bills = {b.user_id: b for b in period_bills(s, month=month, now=now)}
            assert set(bills) == {u.id for u in users}
            for user in users:
                runs = [RunSpan(r.project_id, r.started_at, r.ended_at, r.last_heartbeat_at)
                        for r in s.exec(select(Run).where(
                            Run.user_id == user.id)).all()]
                samples = [SampleSpan(x.project_id, x.at, x.bytes_used) for x in s.exec(
                    select(StorageSample).where(StorageSample.user_id == user.id)
                    .order_by(StorageSample.at, StorageSample.id)).all()]
                intervals = plan_intervals(s, user_id=user.id)
                deleted = {p.id: p.deleted_at for p in projects if p.user_id == user.id}
                usage = usage_from_records(month=month, intervals=intervals, runs=runs,
                                           samples=samples, now=now, timeout=HEARTBEAT_TIMEOUT,
                                           deleted=deleted)
                want = build_period_bill(user_id=user.id, month=month, intervals=intervals,
                                         usage=usage, now=now)
                got = bills[user.id]
                assert got.intervals == tuple(
                    iv.__class__(iv.plan, iv.start, iv.end) for iv in want.intervals)
                assert got.counted_compute_seconds == want.counted_compute_seconds
                assert got.free_compute_seconds == want.free_compute_seconds
                assert got.counted_storage_gb_hours == want.counted_storage_gb_hours
                # Exact per project, past 2^53 byte-seconds (up to 70 GB for weeks).
                assert {u.project_id: (u.paid_compute_seconds, u.free_compute_seconds,
                                       u.paid_storage_byte_seconds) for u in got.usage} == \
                    {u.project_id: (u.paid_compute_seconds, u.free_compute_seconds,
                                    u.paid_storage_byte_seconds) for u in want.usage}
                assert got.included_compute_seconds == want.included_compute_seconds
                assert got.total_cents == want.total_cents
                one = period_bill(s, user_id=user.id, month=month, now=now)
                assert one.total_cents == got.total_cents
