"""APScheduler in every backend worker; the runner makes each tick run once across them."""

from __future__ import annotations

from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from aether_web.jobs.registry import Job, all_jobs
from aether_web.jobs.runner import run_job
from aether_web.observability import log


def _tick_for(job: Job) -> datetime:
    """The scheduled instant, rounded to the job's period, identical on every worker."""
    now = datetime.now(UTC).replace(microsecond=0)
    if job.every_seconds:
        epoch = int(now.timestamp())
        return datetime.fromtimestamp(epoch - epoch % job.every_seconds, UTC)
    return now.replace(second=0)


def _fire(job: Job) -> None:
    try:
        run_job(job.name, tick=_tick_for(job))
    except Exception:  # the runner reports failures; never let the scheduler thread die
        log.exception("scheduler could not run %s", job.name)


def start_scheduler() -> BackgroundScheduler:
    """Schedule every registered job in this process and return the running scheduler."""
    scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"coalesce": True,
                                                                "max_instances": 1})
    for job in all_jobs().values():
        if job.every_seconds:
            trigger = IntervalTrigger(seconds=job.every_seconds, timezone=UTC)
        elif job.cron:
            trigger = CronTrigger(timezone=UTC, **job.cron)
        else:
            continue
        kwargs = {"next_run_time": datetime.now(UTC)} if job.run_at_startup else {}
        scheduler.add_job(_fire, trigger, args=[job], id=job.name, **kwargs)
    scheduler.start()
    log.info("scheduler started with %d jobs", len(scheduler.get_jobs()))
    return scheduler
