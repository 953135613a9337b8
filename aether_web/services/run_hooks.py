"""The hook state machine for VM runs: `started` and `stopped` (policy rules 13-15).

Hooks may arrive late, repeated or out of order; each applies under its project's lock and
answers a repeat of its `event_id` as it did the first time (`services.hook_events`). Where a
run ends is the ledger's rule (`services.runs`: last sign of life, `alive_until`); the
heartbeat, rule 14, is `services.heartbeat`.

- `started` opens a run, unless one is open and alive for that machine already (a repeat:
  nothing new) or the machine's `stopped` arrived just before it and belongs to no earlier
  run (never opened, never billed).
- `stopped` closes the open run when it arrives (or at its last sign of life, when silent). A
  stop that finds no run belongs to this machine's last run when that run was closed without a
  stop (silent, replaced, reconciled) or moments ago; only a stop that belongs to no run is
  remembered as arriving before its start, and it cancels that one start only.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.errors import Conflict
from aether_web.models import HookEvent, Run
from aether_web.services.hook_events import (
    HookAnswer,
    billed_now,
    earlier_answer,
    find_project,
    remember_answer,
)
from aether_web.services.runs import (
    alive_until,
    close_if_silent,
    close_run,
    last_sign_of_life,
    open_new_run,
    open_run_of,
)

# A `stopped` this soon after its run closed is a repeat; one this soon before its `started`
# cancels that start.
REORDER_WINDOW = timedelta(minutes=5)

OPENED, ALREADY_OPEN, CLOSED, ALREADY_CLOSED = "opened", "already_open", "closed", "already_closed"
STOPPED_BEFORE_STARTED = "stopped_before_started"
# Run ends that no `stopped` hook caused: a later stop of that machine belongs to such a run.
ENDED_WITHOUT_STOP = ("heartbeat_lost", "replaced", "reconciled_not_running")


def machine_matches(run: Run, machine_id: str) -> bool:
    """Whether a hook of `machine_id` is about `run` (an empty machine id matches any)."""
    return not run.machine_id or not machine_id or run.machine_id == machine_id


def _last_edge(session: Session, project_id: uuid.UUID, machine_id: str,
               now: datetime) -> Any:
    """This machine's last `started` or `stopped` of the last REORDER_WINDOW, as (kind,
    outcome), or None. Of events at the same instant the causally later one counts: a stop
    that closed a run comes after the start that opened it (had the stop been earlier than a
    start later, its run would still be open), and a start comes after a stop that found no
    run (a restart, or a stop that arrived before its start)."""
    causal = sa.case((sa.and_(HookEvent.kind == "stopped", HookEvent.outcome == CLOSED), 0),
                     (HookEvent.kind == "started", 1), else_=2)
    return session.exec(
        select(HookEvent.kind, HookEvent.outcome)
        .where(HookEvent.project_id == project_id, HookEvent.machine_id == machine_id,
               HookEvent.kind.in_(["started", "stopped"]),
               HookEvent.received_at >= now - REORDER_WINDOW)
        .order_by(HookEvent.received_at.desc(), causal)
    ).first()


def stopped_moments_ago(session: Session, project_id: uuid.UUID, machine_id: str,
                        now: datetime) -> bool:
    """Whether this machine's last start or stop is a stop of the last REORDER_WINDOW: a
    heartbeat now is a late one of the stopped VM."""
    edge = _last_edge(session, project_id, machine_id, now)
    return edge is not None and edge.kind == "stopped"


def _pending_early_stop(session: Session, project_id: uuid.UUID, machine_id: str,
                        now: datetime) -> bool:
    """Whether this machine's `stopped` arrived within the window before its start: it found
    no run it belonged to, and no start or stop of the machine came after it."""
    edge = _last_edge(session, project_id, machine_id, now)
    return edge is not None and edge.kind == "stopped" and edge.outcome == STOPPED_BEFORE_STARTED


def _stop_belongs_to_closed_run(session: Session, project_id: uuid.UUID, machine_id: str,
                                now: datetime) -> bool:
    """Whether a `stopped` that found no open run is this machine's last run's own stop: the
    run closed moments ago (a repeat or a late stop), or closed without a stop (silent,
    replaced, reconciled) and no stop of the machine arrived since it started."""
    last = session.exec(
        select(Run.started_at, Run.ended_at, Run.end_reason)
        .where(Run.project_id == project_id, Run.machine_id == machine_id,
               Run.ended_at.is_not(None))
        .order_by(Run.ended_at.desc())
    ).first()
    if last is None:
        return False
    if last.ended_at >= now - REORDER_WINDOW:
        return True
    if last.end_reason not in ENDED_WITHOUT_STOP:
        return False
    return session.exec(
        select(HookEvent.event_id)
        .where(HookEvent.project_id == project_id, HookEvent.kind == "stopped",
               HookEvent.machine_id == machine_id, HookEvent.received_at >= last.started_at)
    ).first() is None


def record_started(
    session: Session, *, event_id: str, project_id: Any, machine_id: str,
    machine_type: str = "", now: datetime | None = None, trust_running: bool = False,
) -> HookAnswer:
    """A VM started: open its run at database time (once, whatever repeats arrive).

    A run of this machine still open but silent past the timeout ended at its last sign of
    life: it is closed there and a new run opens. `trust_running` (reconciliation, our own
    starts) ignores an earlier stop, because the machine is known to be running now. Raises
    NotFound, or Conflict for a deleted project.
    """
    project = find_project(session, project_id, lock=True)
    if (seen := earlier_answer(session, project.id, event_id)) is not None:
        return seen
    if project.deleted_at is not None:
        raise Conflict("This project was deleted; its VM must not run.", code="project_deleted")
    now = billed_now(session, now)
    run = close_if_silent(session, open_run_of(session, project_id=project.id), now)
    if run is not None and machine_matches(run, machine_id):
        run.machine_id = run.machine_id or machine_id
        run.last_heartbeat_at = max(last_sign_of_life(run), now)
        session.add(run)
        outcome = ALREADY_OPEN
    elif not trust_running and _pending_early_stop(session, project.id, machine_id, now):
        outcome = STOPPED_BEFORE_STARTED
    else:
        if run is not None:  # another machine took over this project: the old one is gone
            close_run(session, run=run, at=last_sign_of_life(run), reason="replaced")
        run = open_new_run(session, project=project, machine_id=machine_id,
                           machine_type=machine_type, now=now)
        outcome = OPENED
    body = {"recorded": outcome == OPENED, "outcome": outcome,
            "run_id": str(run.id) if run is not None and outcome != STOPPED_BEFORE_STARTED
            else None}
    return remember_answer(session, event_id=event_id, kind="started", project=project,
                           machine_id=machine_id, outcome=outcome, at=now, body=body)


def record_stopped(
    session: Session, *, event_id: str, project_id: Any, machine_id: str, reason: str = "",
    now: datetime | None = None,
) -> HookAnswer:
    """A VM stopped: close its run now, or at its last sign of life when it had been silent
    longer than the heartbeat timeout (reason `heartbeat_lost`, as the orphan job would).
    Repeats, late stops and stops that arrive before their start never count twice and never
    reopen anything."""
    project = find_project(session, project_id, lock=True)
    if (seen := earlier_answer(session, project.id, event_id)) is not None:
        return seen
    now = billed_now(session, now)
    run = open_run_of(session, project_id=project.id)
    duration = None
    if run is not None and machine_matches(run, machine_id):
        end = alive_until(run, now)  # before now: silent, so ended at its last sign of life
        close_run(session, run=run, at=end,
                  reason="heartbeat_lost" if end < now else (reason or "stopped"))
        duration = run.duration_seconds
        outcome = CLOSED
    else:
        belongs = _stop_belongs_to_closed_run(session, project.id, machine_id, now)
        outcome = ALREADY_CLOSED if belongs else STOPPED_BEFORE_STARTED
        run = None
    if open_run_of(session, project_id=project.id) is None and project.vm_state != "stopped":
        project.vm_state = "stopped"
        session.add(project)
    body = {"recorded": outcome == CLOSED, "outcome": outcome,
            "run_id": str(run.id) if run is not None else None,
            "duration_seconds": duration}
    return remember_answer(session, event_id=event_id, kind="stopped", project=project,
                           machine_id=machine_id, outcome=outcome, at=now, body=body)
