import threading
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from aether_web.jobs import registry
from aether_web.jobs.registry import Job
from aether_web.jobs.runner import run_job
from aether_web.jobs.status import job_statuses
from aether_web.models import JobRun

CALLS: list[str] = []


@pytest.fixture
def counting_job():
    CALLS.clear()

    def work(session):
        CALLS.append("ran")
        return "did the work"

    job = registry.register(Job("test_counting_job", work, every_seconds=60))
    yield job
    registry._JOBS.pop(job.name, None)


@pytest.fixture
def failing_job():
    def work(session):
        raise RuntimeError("upstream timed out")

    job = registry.register(Job("test_failing_job", work, every_seconds=60))
    yield job
    registry._JOBS.pop(job.name, None)


def test_a_tick_runs_once_across_workers(engine, counting_job):
    tick = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    barrier = threading.Barrier(6)
    outcomes = []

    def worker():
        barrier.wait()
        outcomes.append(run_job(counting_job.name, tick=tick))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert CALLS == ["ran"]
    assert sorted(o.status for o in outcomes) == ["skipped"] * 5 + ["succeeded"]
    with Session(engine) as s:
        runs = s.exec(select(JobRun).where(JobRun.job_name == counting_job.name)).all()
    assert len(runs) == 1 and runs[0].status == "succeeded" and runs[0].detail == "did the work"
    assert runs[0].finished_at is not None

    # The next tick runs again.
    run_job(counting_job.name, tick=tick.replace(minute=1))
    assert CALLS == ["ran", "ran"]


def test_a_failure_is_recorded_and_shown(engine, failing_job, counting_job):
    outcome = run_job(failing_job.name)
    assert outcome.status == "failed" and "upstream timed out" in outcome.detail
    run_job(counting_job.name)
    with Session(engine) as s:
        statuses = job_statuses(s)
    assert statuses[failing_job.name]["last_status"] == "failed"
    assert statuses[failing_job.name]["last_success_at"] is None
    assert statuses[counting_job.name]["last_status"] == "succeeded"
    assert statuses[counting_job.name]["overdue"] is False


def test_the_latest_run_and_the_latest_success_are_each_jobs_own(engine, counting_job,
                                                                 failing_job):
    """A job that succeeded, then failed: its row shows the failure (and its detail) with the
    earlier success; another job's runs never mix in."""
    from datetime import timedelta

    from aether_web.jobs.status import job_rows

    base = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    with Session(engine) as s:
        for i, (name, status, detail) in enumerate([
                (counting_job.name, "succeeded", "first"),
                (counting_job.name, "succeeded", "second"),
                (failing_job.name, "succeeded", "other job's success"),
                (counting_job.name, "failed", "third went wrong"),
                (failing_job.name, "failed", "other job's failure")]):
            at = base + timedelta(minutes=i)
            s.add(JobRun(job_name=name, tick=at, started_at=at,
                         finished_at=at + timedelta(seconds=5), status=status, detail=detail))
        s.commit()
        statuses = job_statuses(s)
        rows = {row["name"]: row for row in job_rows(s)}
    counting = statuses[counting_job.name]
    assert counting["last_status"] == "failed"
    assert counting["last_run_at"] == (base + timedelta(minutes=3)).isoformat()
    assert counting["last_success_at"] == (base + timedelta(minutes=1, seconds=5)).isoformat()
    assert counting["overdue"] is True  # last success long before the database's now
    assert rows[counting_job.name]["last_detail"] == "third went wrong"
    assert rows[failing_job.name]["last_detail"] == "other job's failure"
    assert statuses[failing_job.name]["last_success_at"] == (
        base + timedelta(minutes=2, seconds=5)).isoformat()


def test_unknown_job_is_refused(engine):
    with pytest.raises(KeyError):
        run_job("no_such_job")


def test_cli_runs_a_job_by_name(engine, capsys):
    from aether_web.cli import main

    assert main(["jobs", "run", "purge_expired_sessions"]) == 0
    assert "purge_expired_sessions: succeeded" in capsys.readouterr().out
    assert main(["jobs", "run", "nope"]) == 2
