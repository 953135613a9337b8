"""The ledger of runs: a VM's run opens and closes in `usage_records`, one open run per project
(`uq_usage_records_open_run`). The hooks that open and close runs are `services.run_hooks`
(started, stopped) and `services.heartbeat`; reconciliation (`services.vms`) and the orphan
job (`close_orphaned_runs`) close runs too.

A run's last sign of life is its last heartbeat, or its start (policy rule 13): the pure rule
is `billing.period_bill.last_sign_of_life`; here it is applied to stored runs
(`last_sign_of_life`) and spelled for statements (`last_sign_of_life_sql`), nowhere else. A run silent
longer than HEARTBEAT_TIMEOUT has ended there: whatever closes it (a stop, the orphan job, a
later start or heartbeat of the machine, reconciliation) closes it at that instant
(`alive_until`), so time the events don't show is never billed.

How is a run split at a month end? Closing a run adds its seconds to `usage_monthly` split at
UTC month boundaries by `billing.periods.split_seconds_by_month` (whole seconds of each month
it covers). The bill does not read that cache: `services.period_bill` cuts each run at the
month and plan-interval edges in SQL (`_runs`, `_compute_rows`), an open run counting to now
(a silent one to its last sign of life).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.billing import period_bill
from aether_web.billing.periods import split_seconds_by_month
from aether_web.models import Project, Run
from aether_web.services.hook_events import billed_now, find_project
from aether_web.services.usage_monthly import add_to_month

# The orchestrator sends a heartbeat every minute; a run silent this long has crashed.
HEARTBEAT_TIMEOUT = timedelta(minutes=15)

# The run's last sign of life, in SQL: its last heartbeat, or its start. last_heartbeat_at is
# set at the start and only ever moves forward, so it is never before started_at.
LAST_SIGN_OF_LIFE_SQL = "coalesce(last_heartbeat_at, started_at)"


def last_sign_of_life(run: Run) -> datetime:
    """The run's last sign of life: its last heartbeat, or its start (policy rule 13)."""
    return period_bill.last_sign_of_life(run.started_at, run.last_heartbeat_at)


def last_sign_of_life_sql(runs: Any = None) -> Any:
    """`last_sign_of_life` as a SQL expression over `runs` (usage_records or an alias)."""
    runs = Run.__table__ if runs is None else runs
    return sa.func.coalesce(runs.c.last_heartbeat_at, runs.c.started_at)


def is_silent(last: datetime, now: datetime) -> bool:
    """Whether a run last alive at `last` has been silent longer than the heartbeat timeout
    at `now`: it then ended at `last`."""
    return now - last > HEARTBEAT_TIMEOUT


def alive_until(run: Run, now: datetime) -> datetime:
    """Where an open run ends if it ends at `now`: now, or its last sign of life when it has
    been silent longer than the heartbeat timeout (policy rule 13)."""
    last = last_sign_of_life(run)
    return last if is_silent(last, now) else max(now, last)


def open_run_of(session: Session, *, project_id: uuid.UUID) -> Run | None:
    """The project's open run, if any."""
    return session.exec(
        select(Run).where(Run.project_id == project_id,
                                  Run.ended_at.is_(None))
    ).first()


def open_runs_of(session: Session, *, user_id: uuid.UUID) -> list[Run]:
    """The user's open runs."""
    return list(session.exec(
        select(Run).where(Run.user_id == user_id,
                                  Run.ended_at.is_(None))).all())


def open_new_run(session: Session, *, project: Project, machine_id: str, machine_type: str,
                 now: datetime) -> Run:
    """Open a run of `machine_id` on the project at `now` (its first sign of life); the
    project shows the machine running."""
    run = Run(project_id=project.id, user_id=project.user_id,
                      machine_id=machine_id or "",
                      machine_type=machine_type or project.machine_type,
                      started_at=now, last_heartbeat_at=now)
    session.add(run)
    session.flush()
    project.machine_id = machine_id or project.machine_id
    project.vm_state = "running"
    session.add(project)
    return run


def close_run(session: Session, *, run: Run, at: datetime, reason: str) -> Run:
    """Close an open run at `at` (never before it started) and add its seconds, split per UTC
    month, to usage_monthly."""
    end = max(at.replace(microsecond=0), run.started_at)
    run.ended_at = end
    run.duration_seconds = int((end - run.started_at).total_seconds())
    run.end_reason = (reason or "stopped")[:64]
    session.add(run)
    session.flush()
    for month, seconds in split_seconds_by_month(run.started_at, end).items():
        add_to_month(session, user_id=run.user_id, month=month, compute_seconds=seconds)
    return run


def close_if_silent(session: Session, run: Run | None,
                    now: datetime) -> Run | None:
    """The open run, or None once it is closed at its last sign of life (`heartbeat_lost`)
    for having been silent past the heartbeat timeout at `now`."""
    if run is not None and is_silent(last_sign_of_life(run), now):
        close_run(session, run=run, at=last_sign_of_life(run), reason="heartbeat_lost")
        return None
    return run


def close_orphaned_runs(session: Session, *, now: datetime | None = None) -> list[Run]:
    """Close every open run silent for HEARTBEAT_TIMEOUT at its last sign of life."""
    now = billed_now(session, now)
    stale = session.exec(
        select(Run.project_id).where(
            Run.ended_at.is_(None), last_sign_of_life_sql() < now - HEARTBEAT_TIMEOUT)
    ).all()
    closed = []
    for project_id in stale:
        project = find_project(session, project_id, lock=True)
        run = open_run_of(session, project_id=project_id)
        if run is None or not is_silent(last_sign_of_life(run), now):
            continue  # a heartbeat arrived meanwhile
        closed.append(close_run(session, run=run, at=last_sign_of_life(run),
                                reason="heartbeat_lost"))
        project.vm_state = "stopped"
        session.add(project)
    return closed
