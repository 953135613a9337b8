"""Runs a job once per tick across all workers, records the outcome, reports to Sentry.

Election: every worker's scheduler fires the same tick; each tries to insert the
(job_name, tick) row of `job_runs`, and only the worker whose insert succeeds runs the job. The
run holds the job's lock (`jobs.locks`) throughout, so a long run never overlaps the next tick's:
a tick that finds the lock taken is skipped without a row.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime

import sentry_sdk
import sqlalchemy as sa
from sentry_sdk.crons import monitor

from aether_web import metrics
from aether_web.db import db_now, get_engine, transaction
from aether_web.jobs.locks import job_lock
from aether_web.jobs.registry import Job, all_jobs
from aether_web.models import JobRun
from aether_web.observability import log


@dataclass
class RunOutcome:
    job_name: str
    ran: bool
    status: str
    detail: str


def _claim(job: Job, tick: datetime) -> int | None:
    """Insert the run row for this tick; None when another worker already has it."""
    try:
        with transaction() as session:
            started = db_now(session)
            run = JobRun(job_name=job.name, tick=tick, started_at=started, status="running")
            session.add(run)
            session.flush()
            return run.id
    except sa.exc.IntegrityError:
        return None


def _finish(run_id: int, status: str, detail: str) -> None:
    with transaction() as session:
        run = session.get(JobRun, run_id)
        run.status = status
        run.detail = detail[:4000]
        run.finished_at = db_now(session)


def _monitor_config(job: Job) -> dict:
    if job.cron:
        fields = [str(job.cron.get(k, "*")) for k in ("minute", "hour", "day", "month")]
        return {"schedule": {"type": "crontab", "value": " ".join([*fields, "*"])},
                "checkin_margin": 10, "max_runtime": 60}
    minutes = max(1, (job.every_seconds or 3600) // 60)
    return {"schedule": {"type": "interval", "value": minutes, "unit": "minute"},
            "checkin_margin": 10, "max_runtime": 60}


def run_job(name: str, *, tick: datetime | None = None) -> RunOutcome:
    """Run job `name` for `tick` (a manual run passes none and uses the current second)."""
    jobs = all_jobs()
    if name not in jobs:
        raise KeyError(f"unknown job {name!r}; known: {', '.join(sorted(jobs))}")
    job = jobs[name]
    if tick is None:
        tick = datetime.now(UTC).replace(microsecond=0)
    with job_lock(get_engine(), name) as held:
        if not held:
            log.info("job %s skipped tick %s: its previous run is still going", name, tick)
            return RunOutcome(name, False, "skipped", "the previous run is still going")
        return _run_claimed(job, tick)


def _run_claimed(job: Job, tick: datetime) -> RunOutcome:
    name = job.name
    run_id = _claim(job, tick)
    if run_id is None:
        return RunOutcome(name, False, "skipped", "another worker ran this tick")
    started = time.perf_counter()
    outcome = _execute(job, run_id)
    metrics.JOB_SECONDS.labels(job=name, status=outcome.status).observe(
        time.perf_counter() - started)
    return outcome


def _execute(job: Job, run_id: int) -> RunOutcome:
    name = job.name
    try:
        with (
            monitor(monitor_slug=f"aether-{name}", monitor_config=_monitor_config(job)),
            transaction(get_engine()) as session,
        ):
            detail = job.run(session) or ""
    except Exception as exc:
        sentry_sdk.capture_exception(exc)
        log.error("job %s failed: %s", name, exc)
        _finish(run_id, "failed", "".join(traceback.format_exception_only(exc)).strip())
        return RunOutcome(name, True, "failed", str(exc))
    _finish(run_id, "succeeded", detail)
    log.info("job %s succeeded: %s", name, detail)
    return RunOutcome(name, True, "succeeded", detail)
