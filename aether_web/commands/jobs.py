"""`python -m aether_web jobs list|run NAME`."""

from __future__ import annotations

import argparse
import json


def _list(_args: argparse.Namespace) -> int:
    from aether_web.db import transaction
    from aether_web.jobs.registry import all_jobs
    from aether_web.jobs.status import job_statuses

    with transaction() as session:
        statuses = job_statuses(session)
    for name, job in sorted(all_jobs().items()):
        schedule = f"every {job.every_seconds}s" if job.every_seconds else f"cron {job.cron}"
        print(f"{name:28} {schedule:22} {json.dumps(statuses.get(name, {}))}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from aether_web.jobs.registry import all_jobs
    from aether_web.jobs.runner import run_job

    if args.name not in all_jobs():
        print(f"unknown job {args.name!r}; known: {', '.join(sorted(all_jobs()))}")
        return 2
    outcome = run_job(args.name)
    print(f"{outcome.job_name}: {outcome.status} {outcome.detail}")
    return 0 if outcome.status != "failed" else 1


def register(sub: argparse._SubParsersAction) -> None:
    jobs = sub.add_parser("jobs", help="scheduled jobs").add_subparsers(dest="jobs_cmd",
                                                                        required=True)
    jobs.add_parser("list", help="each job, its schedule and last run").set_defaults(func=_list)
    run = jobs.add_parser("run", help="run one job now")
    run.add_argument("name")
    run.set_defaults(func=_run)
