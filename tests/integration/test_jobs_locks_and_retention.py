"""A job's run never overlaps its next tick (jobs/locks.py); old rows are purged
(services/retention.py), each job's latest success and unhandled Stripe events kept."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.db import db_now, transaction
from aether_web.jobs import registry
from aether_web.jobs.locks import advisory_key
from aether_web.jobs.registry import Job
from aether_web.jobs.runner import run_job
from aether_web.models import JobRun, StripeEvent
from aether_web.services import retention

TICK = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture
def slow_job():
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def work(session):
        calls.append("ran")
        started.set()
        assert release.wait(60)
        return "slow work done"

    job = registry.register(Job("test_slow_job", work, every_seconds=60))
    yield job, started, release, calls
    release.set()
    registry._JOBS.pop(job.name, None)


def test_a_long_run_never_overlaps_its_next_tick(engine, slow_job):
    job, started, release, calls = slow_job
    first = threading.Thread(target=run_job, args=(job.name,), kwargs={"tick": TICK})
    first.start()
    try:
        assert started.wait(30)
        # Another worker fires the next tick while the first run still holds the lock.
        outcome = run_job(job.name, tick=TICK + timedelta(minutes=1))
        assert (outcome.ran, outcome.status) == (False, "skipped")
        assert "still going" in outcome.detail
    finally:
        release.set()
        first.join(60)
    assert calls == ["ran"]
    with Session(engine) as s:
        ticks = [r.tick for r in s.exec(select(JobRun).where(JobRun.job_name == job.name))]
    assert len(ticks) == 1  # the skipped tick left no row
    # With the lock released, the tick after runs.
    assert run_job(job.name, tick=TICK + timedelta(minutes=2)).status == "succeeded"
    assert calls == ["ran", "ran"]


def test_a_failed_run_releases_the_lock(engine):
    def work(session):
        raise RuntimeError("boom")

    job = registry.register(Job("test_failing_lock_job", work, every_seconds=60))
    try:
        assert run_job(job.name, tick=TICK).status == "failed"
        assert run_job(job.name, tick=TICK + timedelta(minutes=1)).status == "failed"
    finally:
        registry._JOBS.pop(job.name, None)


def test_advisory_keys_are_stable_signed_64_bit():
    key = advisory_key("send_month_end_overage")
    assert key == advisory_key("send_month_end_overage") != advisory_key("send_email")
    assert -(2**63) <= key < 2**63


_SEQ = iter(range(10**6))


def _run(session, name, status, started):
    tick = started + timedelta(microseconds=next(_SEQ))  # (job, tick) is unique
    session.add(JobRun(job_name=name, tick=tick, started_at=started, status=status,
                       finished_at=None if status == "running" else started))
    session.flush()


def test_job_runs_older_than_30_days_go_but_each_jobs_last_success_stays(engine):
    with transaction(engine) as s:
        now = db_now(s)
        old, older = now - timedelta(days=40), now - timedelta(days=50)
        _run(s, "a", "succeeded", older)
        _run(s, "a", "failed", old)
        _run(s, "a", "succeeded", old)
        _run(s, "a", "succeeded", now - timedelta(days=1))  # a's newest success
        _run(s, "b", "succeeded", older)  # b's only success: kept
        _run(s, "b", "failed", old)
        _run(s, "c", "running", older)  # never deleted while running
    with transaction(engine) as s:
        gone = retention.purge_job_runs(s)
    assert gone == 4
    with Session(engine) as s:
        left = sorted((r.job_name, r.status, r.started_at.date())
                      for r in s.exec(select(JobRun)))
    assert left == sorted([
        ("a", "succeeded", (now - timedelta(days=1)).date()),
        ("b", "succeeded", older.date()),
        ("c", "running", older.date()),
    ])


def test_processed_stripe_events_go_after_90_days_unhandled_ones_stay(engine):
    with transaction(engine) as s:
        now = db_now(s)
        for event_id, status, age in [("evt_old_done", "processed", 100),
                                      ("evt_old_ignored", "ignored", 100),
                                      ("evt_old_failed", "failed", 100),
                                      ("evt_old_pending", "pending", 100),
                                      ("evt_new_done", "processed", 10)]:
            s.add(StripeEvent(id=event_id, type="invoice.paid", created=0, payload="{}",
                              status=status, received_at=now - timedelta(days=age)))
    with transaction(engine) as s:
        assert retention.purge_stripe_events(s) == 2
    with Session(engine) as s:
        left = sorted(s.exec(sa.select(StripeEvent.id)).scalars())
    assert left == ["evt_new_done", "evt_old_failed", "evt_old_pending"]


def test_purges_go_in_bounded_batches(engine, monkeypatch):
    monkeypatch.setattr(retention, "BATCH", 2)
    with transaction(engine) as s:
        old = db_now(s) - timedelta(days=40)
        for i in range(5):
            _run(s, "many", "failed", old + timedelta(seconds=i))
        _run(s, "many", "succeeded", old - timedelta(seconds=1))
        _run(s, "many", "succeeded", old + timedelta(seconds=9))  # the newest success stays
    with transaction(engine) as s:
        assert retention.purge_job_runs(s) == 6


def test_retention_jobs_are_scheduled_with_monitors():
    jobs = registry.all_jobs()
    for name in ("purge_job_runs", "purge_stripe_events", "purge_hook_events"):
        assert name in jobs and jobs[name].cron and jobs[name].max_interval_seconds <= 2 * 86400
