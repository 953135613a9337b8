"""Retention: old job runs and processed Stripe events are deleted daily (services.retention)."""

from __future__ import annotations

from sqlmodel import Session

from aether_web.jobs.registry import Job, register
from aether_web.services import retention


def purge_job_runs(session: Session) -> str:
    gone = retention.purge_job_runs(session)
    return f"deleted {gone} job runs older than {retention.JOB_RUNS_KEPT.days} days"


def purge_stripe_events(session: Session) -> str:
    gone = retention.purge_stripe_events(session)
    return (f"deleted {gone} processed Stripe events older than "
            f"{retention.STRIPE_EVENTS_KEPT.days} days")


for _job in (
    Job("purge_job_runs", purge_job_runs, cron={"hour": 4, "minute": 53},
        description="Delete finished job runs older than 30 days (each job's last success stays).",
        max_interval_seconds=2 * 86400),
    Job("purge_stripe_events", purge_stripe_events, cron={"hour": 5, "minute": 7},
        description="Delete processed Stripe events older than 90 days.",
        max_interval_seconds=2 * 86400),
):
    register(_job)
