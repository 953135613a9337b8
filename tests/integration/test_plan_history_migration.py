"""Migration 0005 back-fills plan intervals from today's plans and subscriptions, and storage
samples from the last reports (on a fresh database: SQLite, or PostgreSQL when configured)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.billing.plan_history import check_history
from aether_web.cli import migrate
from aether_web.models import PlanIntervalRow, Profile
from aether_web.services.plan_history import change_plan, plan_intervals
from tests.conftest import IS_POSTGRES


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def raw(moment: datetime) -> datetime:
    """How a plain DateTime column takes a moment: SQLite stores naive UTC."""
    return moment if IS_POSTGRES else moment.replace(tzinfo=None)


def test_backfill_gives_every_user_a_gap_free_history(fresh_url):
    migrate(url=fresh_url, revision="0003_billing")
    migrate(url=fresh_url, revision="0004_usage_dashboard")
    engine = sa.create_engine(fresh_url)
    free, pro, team = (uuid.uuid4() for _ in range(3))
    project = uuid.uuid4()
    with engine.begin() as conn:
        def table(table_name, **columns):
            return sa.table(table_name, *(sa.column(c, t) for c, t in columns.items()))

        text, when, uid_t, num = sa.String(), sa.DateTime(timezone=True), sa.Uuid(), \
            sa.BigInteger()
        profiles = table("profiles", id=uid_t, email=text, name=text, password_hash=text,
                         is_admin=sa.Boolean(), plan=text, lock_version=num, created_at=when,
                         stripe_subscription_id=text, subscription_status=text)
        invoices = table("invoices", id=uid_t, stripe_invoice_id=text, user_id=uid_t,
                         stripe_subscription_id=text, status=text, currency=text,
                         total_cents=num, amount_paid_cents=num, amount_due_cents=num,
                         period_start=when, stripe_event_created=num)
        projects = table("projects", id=uid_t, user_id=uid_t, name=text, machine_type=text,
                         vm_state=text, storage_bytes=num, storage_reported_at=when)
        for uid, plan, sub in ((free, "free", None), (pro, "pro", "sub_pro"),
                               (team, "team", "sub_team")):
            conn.execute(profiles.insert().values(
                id=uid, email=f"{uid}@example.com", name="", password_hash="", is_admin=False,
                plan=plan, lock_version=0, created_at=raw(at(2026, 3, 4, 5, 6, 7)),
                stripe_subscription_id=sub, subscription_status="active" if sub else None))
        conn.execute(invoices.insert().values(
            id=uuid.uuid4(), stripe_invoice_id="in_1", user_id=pro,
            stripe_subscription_id="sub_pro", status="paid", currency="usd", total_cents=2000,
            amount_paid_cents=2000, amount_due_cents=0, period_start=raw(at(2026, 6, 20)),
            stripe_event_created=1))
        conn.execute(projects.insert().values(
            id=project, user_id=team, name="files", machine_type="shared-cpu-1x",
            vm_state="stopped", storage_bytes=10**10, storage_reported_at=raw(at(2026, 11, 5))))
    migrate(url=fresh_url)
    with Session(engine) as s:
        def history(uid):
            rows = s.exec(select(PlanIntervalRow).where(PlanIntervalRow.user_id == uid)
                          .order_by(PlanIntervalRow.started_at)).all()
            return [(r.plan, r.started_at, r.ended_at, r.cause) for r in rows]

        # the history covers all time: nothing used can fall outside it
        assert history(free) == [("free", at(1970, 1, 1), None, "backfill")]
        # paid since the first invoice period of the current subscription, Free before
        assert history(pro) == [("free", at(1970, 1, 1), at(2026, 6, 20), "backfill"),
                                ("pro", at(2026, 6, 20), None, "backfill")]
        assert history(team) == [("team", at(1970, 1, 1), None, "backfill")]
        for uid in (free, pro, team):
            check_history(plan_intervals(s, user_id=uid))
        sample = s.execute(sa.text("SELECT project_id, bytes_used FROM storage_samples")).one()
        assert (uuid.UUID(str(sample[0])), sample[1]) == (project, 10**10)
    engine.dispose()


@pytest.mark.postgres
def test_concurrent_plan_changes_never_overlap(engine, make_user):
    """Two transactions change one user's plan at once: the profile lock orders them, and the
    history stays one chain with a single open interval."""
    assert IS_POSTGRES
    user = make_user()
    barrier = threading.Barrier(2)
    errors = []

    def change(plan):
        try:
            with Session(engine) as s:
                profile = s.get(Profile, user.id)
                barrier.wait()
                change_plan(s, profile=profile, plan=plan, cause="support")
                s.commit()
        except Exception as exc:
            errors.append(exc)

    for _ in range(5):
        threads = [threading.Thread(target=change, args=(p,)) for p in ("pro", "team")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    with Session(engine) as s:
        intervals = plan_intervals(s, user_id=user.id)
        check_history(intervals)
        assert sum(1 for iv in intervals if iv.end is None) == 1
        assert s.get(Profile, user.id).plan == intervals[-1].plan
