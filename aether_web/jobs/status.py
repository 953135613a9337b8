"""What monitors and the support console read: each job's last run and last success."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.jobs.registry import all_jobs
from aether_web.models import JobRun


def job_statuses(session: Session) -> dict[str, dict]:
    """Per job: last run (status, when), last success, and whether it is overdue."""
    out: dict[str, dict] = {}
    now = session.exec(sa.select(sa.func.now())).one()[0]
    for name, job in sorted(all_jobs().items()):
        last = session.exec(
            select(JobRun).where(JobRun.job_name == name).order_by(JobRun.started_at.desc())
        ).first()
        ok = session.exec(
            select(JobRun)
            .where(JobRun.job_name == name, JobRun.status == "succeeded")
            .order_by(JobRun.finished_at.desc())
        ).first()
        overdue = False
        if ok is not None and ok.finished_at is not None and now is not None:
            if isinstance(now, str):
                from datetime import UTC, datetime

                now = datetime.fromisoformat(now).replace(tzinfo=UTC)
            elif now.tzinfo is None:
                from datetime import UTC

                now = now.replace(tzinfo=UTC)
            overdue = (now - ok.finished_at).total_seconds() > job.max_interval_seconds
        out[name] = {
            "last_run_at": last.started_at.isoformat() if last else None,
            "last_status": last.status if last else None,
            "last_success_at": ok.finished_at.isoformat() if ok and ok.finished_at else None,
            "overdue": overdue,
        }
    return out


def job_rows(session: Session) -> list[dict[str, str]]:
    """The support console's rows (`/admin`, `GET /api/admin/jobs`), JSON-ready. Each scheduled
    job: its last run and outcome, last success and whether it is overdue."""
    jobs = all_jobs()
    out = []
    for name, status in job_statuses(session).items():
        last = session.exec(
            select(JobRun).where(JobRun.job_name == name).order_by(JobRun.started_at.desc())
        ).first()
        out.append({
            "name": name,
            "description": jobs[name].description if name in jobs else "",
            "last_run_at": status.get("last_run_at") or "",
            "last_status": status.get("last_status") or "never ran",
            "last_detail": (last.detail if last else "")[:300],
            "last_success_at": status.get("last_success_at") or "",
            "overdue": "yes" if status.get("overdue") else "no",
        })
    return out
