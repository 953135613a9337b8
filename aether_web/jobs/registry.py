"""The job catalogue. Area modules (`aether_web.jobs.<area>`) register their jobs on import."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session


@dataclass(frozen=True)
class Job:
    """A scheduled job: `run(session)` does the work inside the runner's transaction and
    returns a short summary for the run log. `every_seconds` (or `cron`) sets the schedule."""

    name: str
    run: Callable[[Session], str]
    every_seconds: int | None = None
    cron: dict | None = None  # APScheduler CronTrigger fields, e.g. {"hour": 2, "minute": 0}
    run_at_startup: bool = False
    description: str = ""
    # For monitors: a run older than this means the job is stuck or not running.
    max_interval_seconds: int = 7200


_JOBS: dict[str, Job] = {}
_LOADED = False


def register(job: Job) -> Job:
    """Add a job to the catalogue (name must be unique)."""
    if job.name in _JOBS and _JOBS[job.name] is not job:
        raise ValueError(f"job {job.name!r} is registered twice")
    _JOBS[job.name] = job
    return job


def all_jobs() -> dict[str, Job]:
    """Every registered job, loading the area modules once."""
    global _LOADED
    if not _LOADED:
        import aether_web.jobs as package

        for module in pkgutil.iter_modules(package.__path__):
            if module.name not in ("registry", "runner", "scheduler", "status"):
                importlib.import_module(f"aether_web.jobs.{module.name}")
        _LOADED = True
    return dict(_JOBS)
