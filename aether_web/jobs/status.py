"""What monitors and the support console read: each job's last run and last success."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from aether_web.db import db_now
from aether_web.jobs.registry import all_jobs
from aether_web.models import JobRun


def _latest(session: Session, *, finished_only: bool = False,
            ) -> tuple[dict[str, sa.Row], dict[str, datetime]]:
    """Per job name: its latest run (started_at, status, detail; with `finished_only`, its
    latest run that is not still running), and when it last succeeded. Two queries in all,
    whatever the number of jobs (a readiness probe reads this)."""
    runs = JobRun.__table__.c  # type: ignore[attr-defined]
    ranked_runs = sa.select(
        runs.job_name, runs.started_at, runs.status, runs.detail,
        sa.func.row_number().over(partition_by=runs.job_name,
                                  order_by=(runs.started_at.desc(), runs.id.desc())).label("n"),
    )
    if finished_only:
        ranked_runs = ranked_runs.where(runs.status != "running")
    ranked = ranked_runs.subquery()
    last = {row.job_name: row for row in session.exec(  # type: ignore[call-overload]
        sa.select(ranked.c.job_name, ranked.c.started_at, ranked.c.status, ranked.c.detail)
        .where(ranked.c.n == 1))}
    succeeded = dict(session.exec(  # type: ignore[call-overload]
        sa.select(runs.job_name, sa.func.max(runs.finished_at))
        .where(runs.status == "succeeded").group_by(runs.job_name)).all())
    return last, {name: at for name, at in succeeded.items() if at is not None}


def job_statuses(session: Session) -> dict[str, dict]:
    """Per job: last run (status, when), last success, and whether it is overdue."""
    return {name: status for name, (status, _detail) in _statuses(session).items()}


def _statuses(session: Session) -> dict[str, tuple[dict, str]]:
    now = db_now(session)
    last, succeeded = _latest(session)
    out: dict[str, tuple[dict, str]] = {}
    for name, job in sorted(all_jobs().items()):
        run, ok_at = last.get(name), succeeded.get(name)
        overdue = ok_at is not None and (now - ok_at).total_seconds() > job.max_interval_seconds
        out[name] = ({
            "last_run_at": run.started_at.isoformat() if run else None,
            "last_status": run.status if run else None,
            "last_success_at": ok_at.isoformat() if ok_at else None,
            "overdue": overdue,
        }, run.detail if run else "")
    return out


def job_rows(session: Session) -> list[dict[str, str]]:
    """The support console's rows (`/admin`, `GET /api/admin/jobs`), JSON-ready. Each scheduled
    job: its last run and outcome, last success and whether it is overdue."""
    jobs = all_jobs()
    return [{
        "name": name,
        "description": jobs[name].description,
        "last_run_at": status["last_run_at"] or "",
        "last_status": status["last_status"] or "never ran",
        "last_detail": detail[:300],
        "last_success_at": status["last_success_at"] or "",
        "overdue": "yes" if status["overdue"] else "no",
    } for name, (status, detail) in _statuses(session).items()]


@dataclass(frozen=True)
class JobReading:
    """One job's figures for monitoring (`GET /api/metrics`)."""

    name: str
    runs: int  # rows in job_runs, whatever their status
    failures: int
    last_finished_failed: bool  # the latest run that is not still running failed
    last_success_at: datetime | None
    max_interval_seconds: int | None  # None: in job_runs but no longer registered


def job_readings(session: Session) -> list[JobReading]:
    """Every registered job and every job name found in job_runs, in name order. Three queries
    in all, whatever the number of jobs."""
    runs = JobRun.__table__.c  # type: ignore[attr-defined]
    counts: dict[tuple[str, str], int] = {
        (name, status): count for name, status, count in session.exec(  # type: ignore[call-overload]
            sa.select(runs.job_name, runs.status, sa.func.count())
            .group_by(runs.job_name, runs.status))}
    last, succeeded = _latest(session, finished_only=True)
    jobs = all_jobs()
    out: list[JobReading] = []
    for name in sorted(set(jobs) | {n for n, _ in counts}):
        run = last.get(name)
        out.append(JobReading(
            name=name,
            runs=sum(c for (n, _), c in counts.items() if n == name),
            failures=counts.get((name, "failed"), 0),
            last_finished_failed=run is not None and run.status == "failed",
            last_success_at=succeeded.get(name),
            max_interval_seconds=jobs[name].max_interval_seconds if name in jobs else None,
        ))
    return out
