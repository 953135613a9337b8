"""The heartbeat hook: a VM is alive (policy rule 14). Every running VM sends one every minute,
so it is the hook the orchestrator sends most, and its common case is a fast path.

The rules, stated here once (each statement below names the ones it encodes):
- [lock] The project row is locked first; an earlier answer to the `event_id` (of this project:
  ids are unique per project) is returned as a repeat and nothing changes (rule 15).
- [clock] One clock for the whole hook: `now` when a test gives it, else the transaction's
  time to the second (as `db_now` reads it). While tests move the app's clock
  (`db.clock_offset`), `db_now` gives HEARTBEAT_SQL its `at` and the fast path stands aside.
- [match] A heartbeat is about the project's open run when its machine is the run's machine,
  or either machine id is empty (as `run_hooks.machine_matches`).
- [alive] Only a live run moves: one silent longer than HEARTBEAT_TIMEOUT ended at its last
  sign of life (`runs.last_sign_of_life`, rule 13) and is closed there instead.
- [forward] The last sign of life never moves backwards: it becomes the later of itself and
  the clock.
- [answer] Status 200 and the body `{"recorded", "outcome", "run_id"}`: `recorded` is true
  when a run moved (`heartbeat`) or opened (`opened_from_heartbeat`), `run_id` is that run's
  id as text (the other run's for `machine_mismatch`), else null. The event is stored with
  its answer.
- [rest] What the fast path leaves (no live run of this machine is open) gets a closer look in
  `record_heartbeat`: a silent run of the project is closed at its last sign of life; another
  machine's live run answers `machine_mismatch`; a deleted project `project_deleted`; a
  machine that stopped less than REORDER_WINDOW ago `no_open_run` (a late heartbeat of the
  stopped run); any other machine gets a run from this heartbeat (`opened_from_heartbeat`).

[lock] to [answer] exist three times, and they must agree: the Core statements of
`_core_statements` (SQLite, every database but PostgreSQL) and, on PostgreSQL, HEARTBEAT_SQL,
all of it in one statement and one round trip, and HEARTBEATS_SQL, the same for several
heartbeats at once. Both texts are also prepared by `api.heartbeat` on asyncpg; HEARTBEAT_SQL
is given to pgbench by `bench/hooks_bench.py`. `tests/integration/test_heartbeat_fast_path.py`
holds the three to the same answers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from aether_web.db import clock_offset, db_now, is_postgres
from aether_web.errors import NotFound
from aether_web.models import HookEvent, Project, Run
from aether_web.services.hook_events import (
    PROJECT_DELETED,
    HookAnswer,
    billed_now,
    find_project,
    parse_project_id,
)
from aether_web.services.run_hooks import stopped_moments_ago
from aether_web.services.runs import (
    HEARTBEAT_TIMEOUT,
    LAST_SIGN_OF_LIFE_SQL,
    close_if_silent,
    last_sign_of_life_sql,
    open_new_run,
    open_run_of,
)

HEARTBEAT, OPENED_FROM_HEARTBEAT = "heartbeat", "opened_from_heartbeat"
MACHINE_MISMATCH, NO_OPEN_RUN = "machine_mismatch", "no_open_run"


def _core_statements() -> dict[str, Any]:
    """The heartbeat's Core statements, built once. Parameters are named hb_* so none is
    taken for a column to set. Their PostgreSQL twin is HEARTBEAT_SQL, just below."""
    projects, events, runs = Project.__table__, HookEvent.__table__, Run.__table__
    event_id = sa.bindparam("hb_event_id", type_=events.c.event_id.type)
    pid = sa.bindparam("hb_project_id", type_=projects.c.id.type)
    machine_id = sa.bindparam("hb_machine_id", type_=runs.c.machine_id.type)
    now = sa.bindparam("hb_now", type_=runs.c.last_heartbeat_at.type)
    alive_since = sa.bindparam("hb_alive_since", type_=runs.c.last_heartbeat_at.type)

    # [lock] (HEARTBEAT_SQL's `project` and `earlier`). Lock the project row only (the event
    # is an outer join). Should a simultaneous request with this event_id commit while we
    # wait for the lock, our insert of the event fails and the caller retries, which then
    # answers as a repeat.
    lock = (sa.select(projects.c.id, events.c.status_code, events.c.response)
            .select_from(projects.outerjoin(events, sa.and_(
                events.c.project_id == projects.c.id, events.c.event_id == event_id)))
            .where(projects.c.id == pid)
            .with_for_update(of=projects))

    is_open = sa.and_(runs.c.project_id == pid, runs.c.ended_at.is_(None))
    last = last_sign_of_life_sql(runs)
    # [alive], [match], [forward] (HEARTBEAT_SQL's `moved`); the caller gives [clock] as
    # hb_now and hb_alive_since = hb_now - HEARTBEAT_TIMEOUT.
    move = (sa.update(runs)
            .where(is_open, last >= alive_since,
                   sa.or_(runs.c.machine_id == machine_id, runs.c.machine_id == "",
                          machine_id == ""))
            .values(last_heartbeat_at=sa.case((last > now, last), else_=now))
            .returning(runs.c.id))
    # [answer] (HEARTBEAT_SQL's `remembered`); the body is built by record_heartbeat.
    return {"lock": lock, "move": move, "remember": sa.insert(events)}


_CORE = _core_statements()

# PostgreSQL: [lock] to [answer] in one statement (its Core twin is _core_statements, above).
# `project` locks the project and `earlier` finds an earlier answer to the event: [lock];
# `clock` is `at`, or the transaction's time to the second: [clock]; `moved` moves the open
# run's last heartbeat: [alive], [match], [forward], and only for a new event; `remembered`
# stores the answer of a moved run: [answer]. It returns the project's id (NULL: no such
# project), the earlier answer, and the run it moved (NULL: no live run of this machine is
# open, left to record_heartbeat: [rest]); `heartbeat_answer` reads that row. Should a
# simultaneous request with the same event_id commit first, the insert fails and the caller
# retries, which answers as a repeat.
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

# PostgreSQL: HEARTBEAT_SQL for several heartbeats of different projects at once, as the fast
# path sends the heartbeats that arrive while its earlier statements run (`api.heartbeat`).
# The same rules per heartbeat (`beat`, numbered `n` in the order given), with two
# differences: a project locked by another transaction is skipped, not waited for (the
# caller leaves that heartbeat, like one of a missing project, to record_heartbeat: `locked`
# is false), so one busy project never holds back the others; and each lookup is a lateral
# one by primary key (LIMIT keeps the planner from turning it into a join), so the plan a
# connection caches stays a per-heartbeat index lookup whatever the tables' statistics. It
# returns one row per heartbeat, in order: `n`, `locked`, the earlier answer, the moved run.
HEARTBEATS_SQL = f"""\
WITH beat AS (
    SELECT * FROM unnest(CAST(:project_ids AS uuid[]), CAST(:event_ids AS text[]),
                         CAST(:machine_ids AS text[])) WITH ORDINALITY
        AS beat(project_id, event_id, machine_id, n)
), project AS (
    SELECT locked.id FROM beat CROSS JOIN LATERAL (
           SELECT id FROM projects WHERE id = beat.project_id
            LIMIT 1 FOR UPDATE SKIP LOCKED) AS locked
), earlier AS (
    SELECT beat.n, event.status_code, event.response FROM beat CROSS JOIN LATERAL (
           SELECT status_code, response FROM hook_events
            WHERE project_id = beat.project_id AND event_id = beat.event_id LIMIT 1) AS event
), clock AS (
    SELECT coalesce(CAST(:at AS timestamptz), date_trunc('second', now())) AS at
), moved AS (
    UPDATE usage_records
       SET last_heartbeat_at = greatest({LAST_SIGN_OF_LIFE_SQL}, (SELECT at FROM clock))
      FROM beat
     WHERE usage_records.project_id = beat.project_id
       AND beat.project_id IN (SELECT id FROM project)
       AND beat.n NOT IN (SELECT n FROM earlier)
       AND usage_records.ended_at IS NULL
       AND {LAST_SIGN_OF_LIFE_SQL}
           >= (SELECT at FROM clock) - interval '{int(HEARTBEAT_TIMEOUT.total_seconds())} seconds'
       AND (usage_records.machine_id = beat.machine_id OR usage_records.machine_id = ''
            OR beat.machine_id = '')
    RETURNING beat.n, usage_records.id, beat.project_id, beat.event_id, beat.machine_id
), remembered AS (
    INSERT INTO hook_events (event_id, kind, project_id, machine_id, outcome, received_at,
                             status_code, response)
    SELECT event_id, 'heartbeat', project_id, machine_id, 'heartbeat', (SELECT at FROM clock),
           200, json_build_object('recorded', true, 'outcome', 'heartbeat',
                                  'run_id', CAST(id AS text))
      FROM moved
    RETURNING project_id
)
SELECT beat.n, beat.project_id IN (SELECT id FROM project) AS locked,
       earlier.status_code AS earlier_status, earlier.response AS earlier_response,
       CAST(moved.id AS text) AS run_id
  FROM beat LEFT JOIN earlier ON earlier.n = beat.n LEFT JOIN moved ON moved.n = beat.n
 ORDER BY beat.n"""  # noqa: S608 (constants)


def heartbeat_answer(row: Any) -> HookAnswer | None:
    """The answer of one HEARTBEAT_SQL result row `(project_id, earlier_status,
    earlier_response, run_id)` ([lock], [answer]); None when no run of this machine was open
    to move, which record_heartbeat answers after a closer look ([rest])."""
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
    """A VM is alive: move its run's last sign of life to now, or open a run from this
    heartbeat (rule 14), as the module's rules say: HEARTBEAT_SQL on PostgreSQL, the Core
    statements elsewhere, then [rest]."""
    pid = parse_project_id(project_id)
    params: dict[str, Any] = {"hb_event_id": event_id, "hb_project_id": pid,
                              "hb_machine_id": machine_id}

    def remember(outcome: str, run_id: Any) -> HookAnswer:
        body = {"recorded": outcome in (HEARTBEAT, OPENED_FROM_HEARTBEAT), "outcome": outcome,
                "run_id": str(run_id) if run_id is not None else None}
        session.execute(_CORE["remember"], {
            "event_id": event_id, "kind": "heartbeat", "project_id": pid,
            "machine_id": machine_id, "outcome": outcome, "received_at": now,
            "status_code": 200, "response": body})
        return HookAnswer(200, body)

    if is_postgres(session):
        if now is None and clock_offset():
            now = db_now(session)  # HEARTBEAT_SQL's own clock is the unmoved now()
        at = None if now is None else (now if now.tzinfo else now.replace(tzinfo=UTC))
        row = session.execute(_HEARTBEAT_TEXT, {
            "project_id": str(pid), "event_id": event_id, "machine_id": machine_id,
            "at": at.replace(microsecond=0) if at else None}).one()
        answer = heartbeat_answer(row)
        if answer is not None:
            return answer
        # The project is locked, the event is new, and no live run of this machine is open.
        now = billed_now(session, now)
    else:
        row = session.execute(_CORE["lock"], params).first()
        if row is None:
            raise NotFound("No project has this id.", code="project_not_found")
        if row.status_code is not None:
            return HookAnswer(row.status_code, dict(row.response), repeat=True)
        now = billed_now(session, now)
        moved = session.execute(_CORE["move"], {
            "hb_project_id": pid, "hb_machine_id": machine_id, "hb_now": now,
            "hb_alive_since": now - HEARTBEAT_TIMEOUT}).first()
        if moved is not None:
            return remember(HEARTBEAT, moved.id)
    # [rest]
    project = find_project(session, pid, lock=False)  # locked above
    run = close_if_silent(session, open_run_of(session, project_id=pid), now)
    if run is not None:
        return remember(MACHINE_MISMATCH, run.id)
    if project.deleted_at is not None:
        return remember(PROJECT_DELETED, None)
    if stopped_moments_ago(session, pid, machine_id, now):
        return remember(NO_OPEN_RUN, None)
    run = open_new_run(session, project=project, machine_id=machine_id, machine_type="",
                       now=now)
    return remember(OPENED_FROM_HEARTBEAT, run.id)
