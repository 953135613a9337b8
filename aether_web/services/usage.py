"""The usage ledger: VM runs and storage from the orchestrator's hooks, and its upkeep.

Every billed instant is database time (`db_now`); tests pass `now` to drive the clock. Each
hook locks its project row first, so hooks for one project apply one at a time, and remembers
its `event_id` with the answer it gave, so a repeat returns that answer and changes nothing.

Rules for runs (policy rules 13-15; one open run per project, `uq_usage_records_open_run`):
- A run's last sign of life is its last heartbeat, or its start (`last_sign_of_life`, and
  `last_sign_of_life_sql` for statements). A run silent longer than HEARTBEAT_TIMEOUT has
  ended there: whatever closes it (a stop, the orphan job, a later start or heartbeat of the
  machine, reconciliation) closes it at that instant (`alive_until`), so time the events don't
  show is never billed.
- `started` opens a run, unless one is open and alive for that machine already (a repeat:
  nothing new) or the machine's `stopped` arrived just before it and belongs to no earlier
  run (never opened, never billed).
- `heartbeat` moves the open run's last sign of life to now. A machine with no open run (its
  run was closed as silent, or its start was lost) gets a run from that heartbeat, unless the
  machine stopped less than REORDER_WINDOW ago (a late heartbeat of the stopped run).
- `stopped` closes the open run when it arrives (or at its last sign of life, above). A stop
  that finds no run belongs to this machine's last run when that run was closed without a stop
  (silent, replaced, reconciled) or moments ago; only a stop that belongs to no run is
  remembered as arriving before its start, and it cancels that one start only.
- `event_id`s are unique per project: project B reusing A's id is a different event.
- Closing a run adds its seconds to `usage_monthly`, split at UTC month boundaries.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from aether_web.billing.limits import WARNING_RATIO, can_start_vm
from aether_web.billing.periods import (
    month_of,
    split_seconds_by_month,
)
from aether_web.billing.plans import BYTES_PER_GB, SECONDS_PER_HOUR, get_plan
from aether_web.db import db_now
from aether_web.errors import Conflict, InvalidInput, LimitReached, NotFound
from aether_web.models import (
    HookEvent,
    Profile,
    Project,
    StorageSample,
    UsageMonthly,
    UsageRecord,
)

# The orchestrator sends a heartbeat every minute; a run silent this long has crashed.
HEARTBEAT_TIMEOUT = timedelta(minutes=15)
# A `stopped` this soon after its run closed is a repeat; one this soon before its `started`
# cancels that start.
REORDER_WINDOW = timedelta(minutes=5)
GB_HOURS_QUANTUM = Decimal("0.0001")

OPENED, ALREADY_OPEN, CLOSED, ALREADY_CLOSED = "opened", "already_open", "closed", "already_closed"
OPENED_FROM_HEARTBEAT = "opened_from_heartbeat"
# Run ends that no `stopped` hook caused: a later stop of that machine belongs to such a run.
ENDED_WITHOUT_STOP = ("heartbeat_lost", "replaced", "reconciled_not_running")
STOPPED_BEFORE_STARTED, HEARTBEAT, NO_OPEN_RUN = (
    "stopped_before_started", "heartbeat", "no_open_run")
MACHINE_MISMATCH, STORAGE_RECORDED, PROJECT_DELETED = (
    "machine_mismatch", "storage_recorded", "project_deleted")


@dataclass(frozen=True)
class HookAnswer:
    """What a hook answers: the HTTP status, the JSON body, and whether it was a repeat."""

    status: int
    body: dict[str, Any]
    repeat: bool = False


# Helpers ------------------------------------------------------------------------------------


def _clock(session: Session, now: datetime | None) -> datetime:
    return (now or db_now(session)).replace(microsecond=0)


def parse_project_id(value: Any) -> uuid.UUID:
    """A project id from a hook body, or InvalidInput."""
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidInput("project_id must be a project's UUID.", code="invalid_project_id") from exc


def _project(session: Session, project_id: Any, *, lock: bool) -> Project:
    pid = parse_project_id(project_id)
    query = select(Project).where(Project.id == pid)
    if lock:
        query = query.with_for_update()
    project = session.exec(query).first()
    if project is None:
        raise NotFound("No project has this id.", code="project_not_found")
    return project


def _replay(session: Session, project_id: uuid.UUID, event_id: str) -> HookAnswer | None:
    seen = session.get(HookEvent, (project_id, event_id))
    if seen is None:
        return None
    return HookAnswer(seen.status_code, dict(seen.response), repeat=True)


def _remember(
    session: Session, *, event_id: str, kind: str, project: Project, machine_id: str,
    outcome: str, at: datetime, body: dict[str, Any],
) -> HookAnswer:
    session.add(HookEvent(event_id=event_id, kind=kind, project_id=project.id,
                          machine_id=machine_id, outcome=outcome, received_at=at,
                          status_code=200, response=body))
    session.flush()
    return HookAnswer(200, body)


def _open_run(session: Session, project_id: uuid.UUID) -> UsageRecord | None:
    return session.exec(
        select(UsageRecord).where(UsageRecord.project_id == project_id,
                                  UsageRecord.ended_at.is_(None))
    ).first()


# The run's last sign of life, in SQL: its last heartbeat, or its start. last_heartbeat_at is
# set at the start and only ever moves forward, so it is never before started_at.
LAST_SIGN_OF_LIFE_SQL = "coalesce(last_heartbeat_at, started_at)"


def last_sign_of_life(run: UsageRecord) -> datetime:
    """The run's last sign of life: its last heartbeat, or its start (policy rule 13)."""
    return max(run.last_heartbeat_at or run.started_at, run.started_at)


def last_sign_of_life_sql(runs: Any = None) -> Any:
    """`last_sign_of_life` as a SQL expression over `runs` (usage_records or an alias)."""
    runs = UsageRecord.__table__ if runs is None else runs
    return sa.func.coalesce(runs.c.last_heartbeat_at, runs.c.started_at)


def is_silent(last: datetime, now: datetime) -> bool:
    """Whether a run last alive at `last` has been silent longer than the heartbeat timeout
    at `now`: it then ended at `last`."""
    return now - last > HEARTBEAT_TIMEOUT


def alive_until(run: UsageRecord, now: datetime) -> datetime:
    """Where an open run ends if it ends at `now`: now, or its last sign of life when it has
    been silent longer than the heartbeat timeout (policy rule 13)."""
    last = last_sign_of_life(run)
    return last if is_silent(last, now) else max(now, last)


def _close_at_edge(session: Session, run: UsageRecord, now: datetime, reason: str) -> bool:
    """Close `run` where it ended if it ends now; True when it had gone silent (and was
    closed at its last sign of life, as `heartbeat_lost`)."""
    end = alive_until(run, now)
    silent = end < now
    close_run(session, run=run, at=end, reason="heartbeat_lost" if silent else reason)
    return silent


def _matches(run: UsageRecord, machine_id: str) -> bool:
    return not run.machine_id or not machine_id or run.machine_id == machine_id


def _upsert_monthly(session: Session, *, user_id: uuid.UUID, month: date,
                    compute_seconds: int = 0, storage_gb_hours: Decimal = Decimal(0)) -> None:
    """Add to a user's month atomically (concurrent closes of one user never lose a write)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = UsageMonthly.__table__
    stmt = insert(table).values(id=uuid.uuid4(), user_id=user_id, month=month,
                                compute_seconds=compute_seconds,
                                storage_gb_hours=storage_gb_hours)
    stmt = stmt.on_conflict_do_update(
        index_elements=["user_id", "month"],
        set_={
            "compute_seconds": table.c.compute_seconds + stmt.excluded.compute_seconds,
            "storage_gb_hours": table.c.storage_gb_hours + stmt.excluded.storage_gb_hours,
        },
    )
    session.execute(stmt)


def close_run(session: Session, *, run: UsageRecord, at: datetime, reason: str) -> UsageRecord:
    """Close an open run at `at` (never before it started) and add its seconds, split per UTC
    month, to usage_monthly."""
    end = max(at.replace(microsecond=0), run.started_at)
    run.ended_at = end
    run.duration_seconds = int((end - run.started_at).total_seconds())
    run.end_reason = (reason or "stopped")[:64]
    session.add(run)
    session.flush()
    for month, seconds in split_seconds_by_month(run.started_at, end).items():
        _upsert_monthly(session, user_id=run.user_id, month=month, compute_seconds=seconds)
    return run


def _last_edge(session: Session, project_id: uuid.UUID, machine_id: str,
               now: datetime) -> Any:
    """This machine's latest `started` or `stopped` hook (kind, outcome) of the last
    REORDER_WINDOW, if any.

    Database time has whole seconds, so a start and a stop often share one. Within a second the
    order is causal: a stop that closed a run came after the start that opened it (were the
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


def _stopped_moments_ago(session: Session, project_id: uuid.UUID, machine_id: str,
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
        select(UsageRecord.started_at, UsageRecord.ended_at, UsageRecord.end_reason)
        .where(UsageRecord.project_id == project_id, UsageRecord.machine_id == machine_id,
               UsageRecord.ended_at.is_not(None))
        .order_by(UsageRecord.ended_at.desc())
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


def _open_new_run(session: Session, *, project: Project, machine_id: str, machine_type: str,
                  now: datetime) -> UsageRecord:
    run = UsageRecord(project_id=project.id, user_id=project.user_id,
                      machine_id=machine_id or "",
                      machine_type=machine_type or project.machine_type,
                      started_at=now, last_heartbeat_at=now)
    session.add(run)
    session.flush()
    project.machine_id = machine_id or project.machine_id
    project.vm_state = "running"
    session.add(project)
    return run


# Hooks --------------------------------------------------------------------------------------


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
    project = _project(session, project_id, lock=True)
    if (seen := _replay(session, project.id, event_id)) is not None:
        return seen
    if project.deleted_at is not None:
        raise Conflict("This project was deleted; its VM must not run.", code="project_deleted")
    now = _clock(session, now)
    run = _open_run(session, project.id)
    if run is not None and is_silent(last_sign_of_life(run), now):
        close_run(session, run=run, at=last_sign_of_life(run), reason="heartbeat_lost")
        run = None
    if run is not None and _matches(run, machine_id):
        run.machine_id = run.machine_id or machine_id
        run.last_heartbeat_at = max(last_sign_of_life(run), now)
        session.add(run)
        outcome = ALREADY_OPEN
    elif not trust_running and _pending_early_stop(session, project.id, machine_id, now):
        outcome = STOPPED_BEFORE_STARTED
    else:
        if run is not None:  # another machine took over this project: the old one is gone
            close_run(session, run=run, at=last_sign_of_life(run), reason="replaced")
        run = _open_new_run(session, project=project, machine_id=machine_id,
                            machine_type=machine_type, now=now)
        outcome = OPENED
    body = {"recorded": outcome == OPENED, "outcome": outcome,
            "run_id": str(run.id) if run is not None and outcome != STOPPED_BEFORE_STARTED
            else None}
    return _remember(session, event_id=event_id, kind="started", project=project,
                     machine_id=machine_id, outcome=outcome, at=now, body=body)


def _heartbeat_statements() -> dict[str, Any]:
    """The heartbeat's statements, built once (it is the most frequent hook). Parameters are
    named hb_* so none is taken for a column to set."""
    projects, events, runs = Project.__table__, HookEvent.__table__, UsageRecord.__table__
    event_id = sa.bindparam("hb_event_id", type_=events.c.event_id.type)
    pid = sa.bindparam("hb_project_id", type_=projects.c.id.type)
    machine_id = sa.bindparam("hb_machine_id", type_=runs.c.machine_id.type)
    now = sa.bindparam("hb_now", type_=runs.c.last_heartbeat_at.type)
    alive_since = sa.bindparam("hb_alive_since", type_=runs.c.last_heartbeat_at.type)

    def lock(*extra: Any) -> sa.Select:
        # Lock the project row only (the event is an outer join). Should a simultaneous request
        # with this event_id commit while we wait for the lock, our insert of the event fails
        # and the caller retries, which then answers as a repeat.
        return (sa.select(projects.c.id, events.c.status_code, events.c.response, *extra)
                .select_from(projects.outerjoin(events, sa.and_(
                    events.c.project_id == projects.c.id, events.c.event_id == event_id)))
                .where(projects.c.id == pid)
                .with_for_update(of=projects))

    is_open = sa.and_(runs.c.project_id == pid, runs.c.ended_at.is_(None))
    last = last_sign_of_life_sql(runs)
    # Only a live run moves: one silent past the timeout ended at its last sign of life.
    move = (sa.update(runs)
            .where(is_open, last >= alive_since,
                   sa.or_(runs.c.machine_id == machine_id, runs.c.machine_id == "",
                          machine_id == ""))
            .values(last_heartbeat_at=sa.case((last > now, last), else_=now))
            .returning(runs.c.id))
    return {"lock": lock(), "move": move, "remember": sa.insert(events)}


_HEARTBEAT = _heartbeat_statements()

# PostgreSQL: the whole common heartbeat in one statement, one round trip. It locks the project,
# finds an earlier answer to the event (of this project: ids are unique per project), moves
# the open run's last heartbeat (never backwards; only a run alive within the heartbeat
# timeout) and remembers the answer, all at one clock: `at`, or the transaction's time to the
# second (as db_now reads it). It returns the project's id (NULL: no such project), the
# earlier answer (a repeat changes nothing), and the run it moved (NULL: no live run of this
# machine is open; the caller then answers as record_heartbeat does: rule 14). Should a simultaneous request with the same
# event_id commit first, the insert fails and the caller retries, which answers as a repeat.
# The API runs this same text on an async connection (api.heartbeat), and the benchmark
# runs it through pgbench.
HEARTBEAT_SQL = f"""\
WITH project AS (
    SELECT id FROM projects WHERE id = CAST(:project_id AS uuid) FOR UPDATE
), earlier AS (
    SELECT status_code, response FROM hook_events
     WHERE project_id = CAST(:project_id AS uuid) AND event_id = :event_id
), clock AS (
    SELECT coalesce(CAST(:at AS timestamptz), date_trunc('second', now())) AS at
), moved AS (
    UPDATE usage_records
       SET last_heartbeat_at = greatest({LAST_SIGN_OF_LIFE_SQL}, (SELECT at FROM clock))
     WHERE project_id = (SELECT id FROM project) AND ended_at IS NULL
       AND {LAST_SIGN_OF_LIFE_SQL}
           >= (SELECT at FROM clock) - interval '{int(HEARTBEAT_TIMEOUT.total_seconds())} seconds'
       AND (machine_id = :machine_id OR machine_id = '' OR :machine_id = '')
       AND NOT EXISTS (SELECT 1 FROM earlier)
    RETURNING id
), remembered AS (
    INSERT INTO hook_events (event_id, kind, project_id, machine_id, outcome, received_at,
                             status_code, response)
    SELECT :event_id, 'heartbeat', moved_project.id, :machine_id, 'heartbeat',
           (SELECT at FROM clock), 200,
           json_build_object('recorded', true, 'outcome', 'heartbeat',
                             'run_id', CAST(moved.id AS text))
      FROM moved, project AS moved_project
    RETURNING event_id
)
SELECT (SELECT id FROM project) AS project_id,
       (SELECT status_code FROM earlier) AS earlier_status,
       (SELECT response FROM earlier) AS earlier_response,
       (SELECT CAST(moved.id AS text) FROM moved, remembered) AS run_id"""  # noqa: S608 (constants)
_HEARTBEAT_TEXT = sa.text(HEARTBEAT_SQL)


def heartbeat_answer(row: Any) -> HookAnswer | None:
    """The answer of one HEARTBEAT_SQL result row `(project_id, earlier_status,
    earlier_response, run_id)`; None when no run of this machine was open to move, which
    record_heartbeat answers after a closer look."""
    project_id, earlier_status, earlier_response, run_id = row
    if project_id is None:
        raise NotFound("No project has this id.", code="project_not_found")
    if earlier_status is not None:
        return HookAnswer(earlier_status, dict(earlier_response), repeat=True)
    if run_id is None:
        return None
    return HookAnswer(200, {"recorded": True, "outcome": HEARTBEAT, "run_id": run_id})


def record_heartbeat(
    session: Session, *, event_id: str, project_id: Any, machine_id: str,
    now: datetime | None = None,
) -> HookAnswer:
    """A VM is alive: move its run's last sign of life to now.

    The most frequent hook (every running VM, every minute). On PostgreSQL one statement
    (HEARTBEAT_SQL) locks, answers a repeat and moves a live run; elsewhere plain statements
    do the same. What they leave is rule 14: a machine with no live open run gets a run from
    this heartbeat (a silent run of the project is closed at its last sign of life first),
    unless it stopped less than REORDER_WINDOW ago (a late heartbeat: `no_open_run`), the
    project was deleted, or another machine's run is open and alive (`machine_mismatch`).
    """
    pid = parse_project_id(project_id)
    params: dict[str, Any] = {"hb_event_id": event_id, "hb_project_id": pid,
                              "hb_machine_id": machine_id}

    def remember(outcome: str, run_id: Any) -> HookAnswer:
        body = {"recorded": outcome in (HEARTBEAT, OPENED_FROM_HEARTBEAT), "outcome": outcome,
                "run_id": str(run_id) if run_id is not None else None}
        session.execute(_HEARTBEAT["remember"], {
            "event_id": event_id, "kind": "heartbeat", "project_id": pid,
            "machine_id": machine_id, "outcome": outcome, "received_at": now,
            "status_code": 200, "response": body})
        return HookAnswer(200, body)

    if session.get_bind().dialect.name == "postgresql":
        at = None if now is None else (now if now.tzinfo else now.replace(tzinfo=UTC))
        row = session.execute(_HEARTBEAT_TEXT, {
            "project_id": str(pid), "event_id": event_id, "machine_id": machine_id,
            "at": at.replace(microsecond=0) if at else None}).one()
        answer = heartbeat_answer(row)
        if answer is not None:
            return answer
        # The project is locked, the event is new, and no live run of this machine is open.
        now = _clock(session, now)
    else:
        row = session.execute(_HEARTBEAT["lock"], params).first()
        if row is None:
            raise NotFound("No project has this id.", code="project_not_found")
        if row.status_code is not None:
            return HookAnswer(row.status_code, dict(row.response), repeat=True)
        now = _clock(session, now)
        moved = session.execute(_HEARTBEAT["move"], {
            "hb_project_id": pid, "hb_machine_id": machine_id, "hb_now": now,
            "hb_alive_since": now - HEARTBEAT_TIMEOUT}).first()
        if moved is not None:
            return remember(HEARTBEAT, moved.id)
    project = _project(session, pid, lock=False)  # locked above
    run = _open_run(session, pid)
    if run is not None and is_silent(last_sign_of_life(run), now):
        close_run(session, run=run, at=last_sign_of_life(run), reason="heartbeat_lost")
        run = None
    if run is not None:
        return remember(MACHINE_MISMATCH, run.id)
    if project.deleted_at is not None:
        return remember(PROJECT_DELETED, None)
    if _stopped_moments_ago(session, pid, machine_id, now):
        return remember(NO_OPEN_RUN, None)
    run = _open_new_run(session, project=project, machine_id=machine_id, machine_type="",
                        now=now)
    return remember(OPENED_FROM_HEARTBEAT, run.id)


def record_stopped(
    session: Session, *, event_id: str, project_id: Any, machine_id: str, reason: str = "",
    now: datetime | None = None,
) -> HookAnswer:
    """A VM stopped: close its run now, or at its last sign of life when it had been silent
    longer than the heartbeat timeout (reason `heartbeat_lost`, as the orphan job would).
    Repeats, late stops and stops that arrive before their start never count twice and never
    reopen anything."""
    project = _project(session, project_id, lock=True)
    if (seen := _replay(session, project.id, event_id)) is not None:
        return seen
    now = _clock(session, now)
    run = _open_run(session, project.id)
    duration = None
    if run is not None and _matches(run, machine_id):
        _close_at_edge(session, run, now, reason or "stopped")
        duration = run.duration_seconds
        outcome = CLOSED
    else:
        belongs = _stop_belongs_to_closed_run(session, project.id, machine_id, now)
        outcome = ALREADY_CLOSED if belongs else STOPPED_BEFORE_STARTED
        run = None
    if _open_run(session, project.id) is None and project.vm_state != "stopped":
        project.vm_state = "stopped"
        session.add(project)
    body = {"recorded": outcome == CLOSED, "outcome": outcome,
            "run_id": str(run.id) if run is not None else None,
            "duration_seconds": duration}
    return _remember(session, event_id=event_id, kind="stopped", project=project,
                     machine_id=machine_id, outcome=outcome, at=now, body=body)


def record_storage(
    session: Session, *, event_id: str, project_id: Any, bytes_used: int,
    now: datetime | None = None,
) -> HookAnswer:
    """The project's storage is now `bytes_used`. Storage up to now is accrued at the previous
    size first, so a new size never applies to the past."""
    if isinstance(bytes_used, bool) or not isinstance(bytes_used, int) or bytes_used < 0:
        raise InvalidInput("bytes_used must be a whole number of bytes, 0 or more.",
                           code="invalid_bytes_used")
    project = _project(session, project_id, lock=True)
    if (seen := _replay(session, project.id, event_id)) is not None:
        return seen
    now = _clock(session, now)
    if project.deleted_at is not None:
        body: dict[str, Any] = {"recorded": False, "outcome": PROJECT_DELETED}
        return _remember(session, event_id=event_id, kind="storage", project=project,
                         machine_id="", outcome=PROJECT_DELETED, at=now, body=body)
    accrue_project_storage(session, project=project, until=now)
    project.storage_bytes = bytes_used
    project.storage_reported_at = now
    # The sample the period bill reads (a step function, split at plan interval edges).
    session.add(StorageSample(project_id=project.id, user_id=project.user_id, at=now,
                              bytes_used=bytes_used))
    project.storage_accrued_until = max(project.storage_accrued_until or now, now)
    session.add(project)
    session.flush()
    status = storage_status(session, user_id=project.user_id, additional_bytes=0)
    body = {"recorded": True, "outcome": STORAGE_RECORDED, "storage_bytes": bytes_used,
            "user_storage_bytes": status["storage_bytes"], "limit_bytes": status["limit_bytes"],
            "warning": status["reason"] if status["reason"] != "ok" else None}
    return _remember(session, event_id=event_id, kind="storage", project=project,
                     machine_id="", outcome=STORAGE_RECORDED, at=now, body=body)


# Limits -------------------------------------------------------------------------------------


def compute_seconds_used(session: Session, *, user_id: uuid.UUID,
                         now: datetime | None = None) -> int:
    """This UTC month's compute seconds used while on Free: what the Free cap counts (policy
    rule 6). From the month's period bill (`services.period_bill`), so runs are cut at the
    plan intervals as billing cuts them, and an open run counts to now (a silent one only to
    its last sign of life). Hours used on a paid plan earlier in the month never count."""
    return free_seconds_used(session, user_ids=[user_id], now=now).get(user_id, 0)


def free_seconds_used(session: Session, *, user_ids: list[uuid.UUID],
                      now: datetime | None = None) -> dict[uuid.UUID, int]:
    """`compute_seconds_used` for several users at once (one batched period computation)."""
    from aether_web.services.period_bill import period_bills

    now = _clock(session, now)
    if not user_ids:
        return {}
    bills = period_bills(session, month=month_of(now), now=now, user_ids=user_ids)
    try:
        return {bill.user_id: bill.free_compute_seconds for bill in bills}
    finally:
        bills.close()


def authorize_start(session: Session, *, project_id: Any, now: datetime | None = None) -> dict:
    """May this project's VM start? NotFound for an unknown or deleted project, LimitReached
    (`compute_limit_reached`) for a Free user whose hours are used up."""
    project = _project(session, project_id, lock=False)
    if project.deleted_at is not None:
        raise NotFound("No project has this id.", code="project_not_found")
    profile = session.get(Profile, project.user_id)
    plan = get_plan(profile.plan if profile else None)
    from aether_web.services.period_bill import period_bill

    now = _clock(session, now)
    bill = period_bill(session, user_id=project.user_id, month=month_of(now), now=now)
    # Free: the month's usage while on Free (the cap, rule 6); paid: all of the month's usage.
    used = bill.used_compute_seconds if plan.overage else bill.free_compute_seconds
    if not can_start_vm(plan, used):
        raise LimitReached(
            f"You've used all {plan.compute_hours} compute hours of the {plan.name} plan this "
            "month. Upgrade to Pro to keep building.", code="compute_limit_reached")
    return {"allowed": True, "compute_seconds_used": used,
            "compute_seconds_limit": None if plan.overage else plan.compute_seconds}


def storage_status(session: Session, *, user_id: uuid.UUID, additional_bytes: int) -> dict:
    """The user's stored bytes against the plan: `allowed` to write `additional_bytes` more,
    and why (`ok`, `storage_near_limit` from 80%, `storage_limit_reached`). Paid plans may
    always write (overage)."""
    total = session.exec(
        select(sa.func.coalesce(sa.func.sum(Project.storage_bytes), 0))
        .where(Project.user_id == user_id, Project.deleted_at.is_(None))
    ).one()
    total = int(total)
    profile = session.get(Profile, user_id)
    plan = get_plan(profile.plan if profile else None)
    limit = plan.storage_gb * BYTES_PER_GB
    after = total + max(0, additional_bytes)
    if plan.overage:
        allowed, reason = True, "ok"
    elif after > limit or (total >= limit and additional_bytes > 0):
        allowed, reason = False, "storage_limit_reached"
    elif total >= limit:
        allowed, reason = True, "storage_limit_reached"
    elif after >= limit * WARNING_RATIO:
        allowed, reason = True, "storage_near_limit"
    else:
        allowed, reason = True, "ok"
    return {"allowed": allowed, "reason": reason, "storage_bytes": total,
            "limit_bytes": None if plan.overage else limit}


def check_storage(session: Session, *, project_id: Any, additional_bytes: Any) -> dict:
    """May this project write `additional_bytes` more? Free plans warn from 80% of the cap and
    refuse past it; paid plans always may. NotFound for an unknown or deleted project."""
    if isinstance(additional_bytes, bool) or not isinstance(additional_bytes, int) \
            or additional_bytes < 0:
        raise InvalidInput("additional_bytes must be a whole number of bytes, 0 or more.",
                           code="invalid_additional_bytes")
    project = _project(session, project_id, lock=False)
    if project.deleted_at is not None:
        raise NotFound("No project has this id.", code="project_not_found")
    return storage_status(session, user_id=project.user_id, additional_bytes=additional_bytes)


# Upkeep (scheduled jobs) --------------------------------------------------------------------


def close_orphaned_runs(session: Session, *, now: datetime | None = None) -> list[UsageRecord]:
    """Close every open run silent for HEARTBEAT_TIMEOUT at its last sign of life."""
    now = _clock(session, now)
    stale = session.exec(
        select(UsageRecord.project_id).where(
            UsageRecord.ended_at.is_(None), last_sign_of_life_sql() < now - HEARTBEAT_TIMEOUT)
    ).all()
    closed = []
    for project_id in stale:
        project = _project(session, project_id, lock=True)
        run = _open_run(session, project_id)
        if run is None or not is_silent(last_sign_of_life(run), now):
            continue  # a heartbeat arrived meanwhile
        closed.append(close_run(session, run=run, at=last_sign_of_life(run),
                                reason="heartbeat_lost"))
        project.vm_state = "stopped"
        session.add(project)
    return closed


def _gb_hours(storage_bytes: int, seconds: int) -> Decimal:
    exact = Decimal(storage_bytes) * seconds / (BYTES_PER_GB * SECONDS_PER_HOUR)
    return exact.quantize(GB_HOURS_QUANTUM, rounding=ROUND_FLOOR)


def accrue_project_storage(session: Session, *, project: Project, until: datetime) -> Decimal:
    """Add the project's GB-hours since it was last accrued (at its current size) up to
    `until` (or its deletion) to usage_monthly, split per UTC month."""
    start = project.storage_accrued_until or project.storage_reported_at
    end = until if project.deleted_at is None else min(until, project.deleted_at)
    if start is None or end <= start:
        return Decimal(0)
    total = Decimal(0)
    if project.storage_bytes > 0:
        for month, seconds in split_seconds_by_month(start, end).items():
            amount = _gb_hours(project.storage_bytes, seconds)
            if amount > 0:
                _upsert_monthly(session, user_id=project.user_id, month=month,
                                storage_gb_hours=amount)
                total += amount
    project.storage_accrued_until = end
    session.add(project)
    return total


def accrue_storage(session: Session, *, now: datetime | None = None) -> Decimal:
    """Accrue every project's storage up to now; returns the GB-hours added."""
    now = _clock(session, now)
    ids = session.exec(
        select(Project.id).where(
            Project.storage_reported_at.is_not(None),
            sa.or_(Project.storage_accrued_until.is_(None),
                   Project.storage_accrued_until < sa.func.coalesce(Project.deleted_at, now)))
    ).all()
    total = Decimal(0)
    for project_id in ids:
        project = _project(session, project_id, lock=True)
        total += accrue_project_storage(session, project=project, until=now)
    session.flush()
    return total


def free_users_over_cap(session: Session, *, now: datetime | None = None) -> list[uuid.UUID]:
    """Free users with a running VM who have used the month's compute hours on Free."""
    now = _clock(session, now)
    users = list(session.exec(
        select(UsageRecord.user_id).distinct()
        .join(Profile, Profile.id == UsageRecord.user_id)
        .where(UsageRecord.ended_at.is_(None), Profile.plan == "free")
    ).all())
    used = free_seconds_used(session, user_ids=users, now=now)
    free = get_plan("free")
    return [u for u in users if not can_start_vm(free, used.get(u, 0))]


def open_runs_of(session: Session, *, user_id: uuid.UUID) -> list[UsageRecord]:
    """The user's open runs."""
    return list(session.exec(
        select(UsageRecord).where(UsageRecord.user_id == user_id,
                                  UsageRecord.ended_at.is_(None))).all())


def open_run_of(session: Session, *, project_id: uuid.UUID) -> UsageRecord | None:
    """The project's open run, if any."""
    return _open_run(session, project_id)


def purge_hook_events(session: Session, *, now: datetime | None = None,
                      keep: timedelta = timedelta(days=30)) -> int:
    """Forget hook answers older than `keep` (repeats are expected within hours)."""
    now = _clock(session, now)
    return session.execute(
        sa.delete(HookEvent).where(HookEvent.received_at < now - keep)).rowcount
