"""The heartbeat hook's fast path on PostgreSQL (aether_web/api/heartbeat.py): the same answers
as the regular handler, one statement for the common case, and the regular handler for the rest.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.api.hooks import sign
from aether_web.db import transaction
from aether_web.models import HookEvent, Run
from aether_web.services.run_hooks import record_started

SECRET = "test-hook-secret-0001"
HEARTBEAT = "/api/hooks/vm/heartbeat"


def post(api, body, *, raw=None, signature=None):
    data = raw if raw is not None else json.dumps(body).encode()
    return api.post(HEARTBEAT, content=data, headers={
        "Aether-Signature": signature if signature is not None else sign(data, SECRET),
        "Content-Type": "application/json"})


def open_run(engine, make_user, make_project, machine="m1"):
    user = make_user(plan="pro")
    project = make_project(user)
    with transaction(engine) as s:
        record_started(s, event_id=uuid.uuid4().hex, project_id=project.id,
                       machine_id=machine, machine_type="shared-cpu-1x")
    return project


def beat(project, machine="m1", event_id=None):
    return {"event_id": event_id or uuid.uuid4().hex, "project_id": str(project.id),
            "machine_id": machine}


def test_on_sqlite_every_request_goes_to_the_app(monkeypatch):
    from aether_web.api import heartbeat

    async def app(scope, receive, send):  # pragma: no cover - never called here
        raise AssertionError

    monkeypatch.setattr(heartbeat, "database_url", lambda: "sqlite:///x.db")
    assert heartbeat.heartbeat_fast_path(app) is app
    monkeypatch.setattr(heartbeat, "database_url",
                        lambda: "postgresql+psycopg://u@h:5432/d?options=-c%20x%3Dy")
    assert heartbeat.heartbeat_fast_path(app) is not app
    assert heartbeat.dsn("postgresql+psycopg://u:p@h:5432/d?options=-c%20x%3Dy") == \
        "postgresql://u:p@h:5432/d?options=-c+x%3Dy"


postgres = pytest.mark.postgres


@postgres
def test_common_heartbeat_never_uses_the_regular_handler(api, engine, make_user, make_project,
                                                         monkeypatch):
    project = open_run(engine, make_user, make_project)
    with transaction(engine) as s:  # the last heartbeat a minute ago: this one moves it
        s.execute(sa.update(Run).values(
            last_heartbeat_at=sa.func.now() - sa.text("interval '1 minute'")))
    with Session(engine) as s:
        run = s.exec(select(Run)).one()

    def regular(*_args, **_kwargs):
        raise AssertionError("the regular handler ran")

    monkeypatch.setattr("aether_web.services.heartbeat.record_heartbeat", regular)
    body = beat(project)
    r = post(api, body)
    assert r.status_code == 200, r.text
    assert r.json() == {"recorded": True, "outcome": "heartbeat", "run_id": str(run.id)}
    assert "Aether-Repeat" not in r.headers
    with Session(engine) as s:
        stored = s.get(HookEvent, (project.id, body["event_id"]))
        moved = s.get(Run, run.id)
    assert stored is not None and stored.outcome == "heartbeat" and stored.status_code == 200
    assert stored.response == r.json()
    assert moved.last_heartbeat_at >= run.last_heartbeat_at + timedelta(seconds=59)

    # A repeat returns the first answer, marked as a repeat, and changes nothing.
    with transaction(engine) as s:
        s.execute(sa.update(Run).where(Run.id == run.id).values(
            last_heartbeat_at=sa.func.now() - sa.text("interval '1 hour'")))
    with Session(engine) as s:
        before = s.get(Run, run.id).last_heartbeat_at
    again = post(api, body)
    assert again.status_code == 200 and again.json() == r.json()
    assert again.headers["Aether-Repeat"] == "true"
    with Session(engine) as s:
        assert s.get(Run, run.id).last_heartbeat_at == before
        assert len(s.exec(select(HookEvent)).all()) == 2  # the start and this heartbeat


@postgres
def test_what_the_statement_does_not_settle_gets_the_regular_answers(api, engine, make_user,
                                                                     make_project):
    project = open_run(engine, make_user, make_project, machine="m1")
    with Session(engine) as s:
        run = s.exec(select(Run)).one()
    other = post(api, beat(project, machine="m2"))
    assert other.status_code == 200
    assert other.json() == {"recorded": False, "outcome": "machine_mismatch",
                            "run_id": str(run.id)}

    # A machine with no open run gets one from its heartbeat (rule 14).
    idle = make_project(make_user())
    opened = post(api, beat(idle))
    assert opened.status_code == 200
    assert opened.json()["outcome"] == "opened_from_heartbeat"
    with Session(engine) as s:
        [new] = s.exec(select(Run).where(Run.project_id == idle.id)).all()
    assert opened.json() == {"recorded": True, "outcome": "opened_from_heartbeat",
                             "run_id": str(new.id)}
    # Its next heartbeat is the common one again.
    assert post(api, beat(idle)).json() == {"recorded": True, "outcome": "heartbeat",
                                            "run_id": str(new.id)}

    unknown = post(api, {"event_id": "e", "project_id": str(uuid.uuid4()), "machine_id": "m"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "project_not_found"


@postgres
@pytest.mark.parametrize(("raw", "signature", "status", "code"), [
    (b'{"event_id": "e1", "project_id": "P", "machine_id": "m1"}', None, 401,
     "invalid_signature"),
    (b"{not json", "sign", 400, "malformed_json"),
    (b'{"event_id": "e1", "project_id": "nope", "machine_id": "m1"}', "sign", 400,
     "invalid_project_id"),
    (b'{"event_id": "", "project_id": "P", "machine_id": "m1"}', "sign", 400, "invalid_body"),
    (b'{"event_id": "e1", "project_id": "P", "machine_id": "m1", "pad": "'
     + b"x" * 70_000 + b'"}', "sign", 413, "body_too_large"),
])
def test_bad_requests_get_clear_errors_and_change_nothing(api, engine, make_user, make_project,
                                                          raw, signature, status, code):
    project = open_run(engine, make_user, make_project)
    raw = raw.replace(b'"P"', f'"{project.id}"'.encode())
    header = sign(raw, SECRET) if signature == "sign" else "t=1,v1=00"
    r = post(api, None, raw=raw, signature=header)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    with Session(engine) as s:
        assert [e.kind for e in s.exec(select(HookEvent)).all()] == ["started"]


@postgres
@pytest.mark.parametrize("pause", [0, 0.5], ids=["at_once", "after_the_server_said_so"])
def test_a_dropped_connection_falls_back_and_the_pool_recovers(api, engine, make_user,
                                                               make_project, pause):
    project = open_run(engine, make_user, make_project)
    assert post(api, beat(project)).status_code == 200
    # The database drops the fast path's connections (a restart, a failover).
    with engine.connect() as conn:
        killed = conn.execute(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND application_name = 'aether-heartbeat'")).scalar_one()
    assert killed >= 1
    time.sleep(pause)  # the idle connection may or may not have heard of it yet
    answers = [post(api, beat(project)) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert all(a.json()["outcome"] == "heartbeat" for a in answers)
    with Session(engine) as s:
        assert len(s.exec(select(HookEvent).where(HookEvent.kind == "heartbeat")).all()) == 4


@postgres
def test_simultaneous_repeats_of_one_event_are_applied_once(api, engine, make_user,
                                                            make_project):
    project = open_run(engine, make_user, make_project)
    body = beat(project)
    different = [beat(project) for _ in range(10)]
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda b: post(api, b), [body] * 10 + different))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    first = {json.dumps(a.json(), sort_keys=True) for a in answers[:10]}
    assert len(first) == 1  # every copy got the one answer
    assert sum(1 for a in answers[:10] if "Aether-Repeat" not in a.headers) >= 1
    with Session(engine) as s:
        events = s.exec(select(HookEvent).where(HookEvent.kind == "heartbeat")).all()
    assert sorted(e.event_id for e in events) == sorted(
        [body["event_id"]] + [d["event_id"] for d in different])


@postgres
def test_a_worker_shutting_down_closes_its_connections(engine, make_user, make_project):
    import asyncio

    from aether_web.api import heartbeat

    project = open_run(engine, make_user, make_project)

    def connections() -> int:
        with engine.connect() as conn:
            return conn.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = :name"), {"name": heartbeat.APPLICATION_NAME}).scalar_one()

    async def worker() -> tuple[int, int]:
        answer = await heartbeat.fast_heartbeat(beat(project))
        assert answer is not None and answer.body["outcome"] == "heartbeat"
        during = connections()
        await heartbeat.close_pool()
        for _ in range(40):  # the server process ends just after the goodbye
            if connections() < during:
                break
            await asyncio.sleep(0.05)
        return during, connections()

    before = connections()
    during, after = asyncio.run(worker())
    assert during == before + 1
    assert after == before


@postgres
def test_a_silent_run_is_never_moved_by_the_statement(api, engine, make_user, make_project):
    # Rule 13: a run silent past the timeout ended at its last sign of life; the heartbeat
    # that comes after the silence opens a new run instead of billing the silence.
    project = open_run(engine, make_user, make_project)
    with transaction(engine) as s:
        s.execute(sa.update(Run).values(
            started_at=sa.text("date_trunc('second', now()) - interval '3 hours'"),
            last_heartbeat_at=sa.text("date_trunc('second', now()) - interval '2 hours'")))
    with Session(engine) as s:
        silent = s.exec(select(Run)).one()
    r = post(api, beat(project))
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "opened_from_heartbeat"
    with Session(engine) as s:
        old = s.get(Run, silent.id)
        new = s.exec(select(Run).where(Run.ended_at.is_(None))).one()
    assert (old.ended_at, old.end_reason) == (silent.last_heartbeat_at, "heartbeat_lost")
    assert old.duration_seconds == 3600
    assert r.json()["run_id"] == str(new.id) and new.started_at > old.ended_at


@postgres
def test_event_ids_are_per_project_on_the_fast_path(api, engine, make_user, make_project):
    a = open_run(engine, make_user, make_project)
    b = open_run(engine, make_user, make_project)
    with Session(engine) as s:
        run_of = {r.project_id: str(r.id) for r in s.exec(select(Run)).all()}
    first_a = post(api, beat(a, event_id="same"))
    first_b = post(api, beat(b, event_id="same"))
    assert first_a.json()["run_id"] == run_of[a.id] and first_b.json()["run_id"] == run_of[b.id]
    assert "Aether-Repeat" not in first_b.headers
    again_b = post(api, beat(b, event_id="same"))
    assert again_b.json() == first_b.json() and again_b.headers["Aether-Repeat"] == "true"


@postgres
def test_a_moved_app_clock_times_the_heartbeat_on_postgresql(api, engine, make_user,
                                                             make_project, monkeypatch):
    from aether_web.settings import get_settings

    project = open_run(engine, make_user, make_project)
    monkeypatch.setenv("AETHER_APP_CLOCK_OFFSET_SECONDS", "40")
    get_settings.cache_clear()
    try:
        r = post(api, beat(project))
    finally:
        monkeypatch.delenv("AETHER_APP_CLOCK_OFFSET_SECONDS")
        get_settings.cache_clear()
    assert r.status_code == 200 and r.json()["outcome"] == "heartbeat", r.text
    with Session(engine) as s:
        database_now = s.exec(sa.select(sa.func.now())).one()[0]
        run = s.exec(select(Run)).one()
    # Stamped on the moved clock (40 s ahead of the database's), as db_now reads it.
    assert run.last_heartbeat_at >= database_now + timedelta(seconds=35)


class _CountingPool:
    """A heartbeat pool that records each statement it sends: ("one", 1) or ("many", n)."""

    def __init__(self, url):
        from aether_web.api import heartbeat

        self.pool = heartbeat.ConnectionPool(url)
        self.calls: list[tuple[str, int]] = []

    async def run(self, params):
        self.calls.append(("one", 1))
        return await self.pool.run(params)

    async def run_many(self, beats):
        self.calls.append(("many", len(beats)))
        return await self.pool.run_many(beats)



def _fast_path(beats, *, in_flight):
    """The heartbeats as the fast path takes them (project ids as UUIDs), and a Batcher with
    `in_flight` statements out at most, on a pool that counts its statements."""
    from aether_web.api import heartbeat
    from aether_web.db import database_url

    pool = _CountingPool(heartbeat.dsn(database_url()))
    beats = [{**b, "project_id": uuid.UUID(b["project_id"])} for b in beats]
    return beats, pool, heartbeat.Batcher(pool, in_flight=in_flight)  # type: ignore[arg-type]

@postgres
def test_heartbeats_that_wait_go_out_together_with_the_answers_of_each(
        api, engine, make_user, make_project):
    """Heartbeats that arrive while a statement is out go in the next one (HEARTBEATS_SQL),
    one per project, and each gets the answer it gets alone: moved, a repeat, or left to the
    regular handler (another machine, a silent run, a project another transaction holds, no
    such project). Only the moved runs change and only their events are stored."""
    import asyncio

    first, busy, repeat, other_machine, silent, held = (
        open_run(engine, make_user, make_project) for _ in range(6))
    with transaction(engine) as s:
        s.execute(sa.update(Run).where(Run.project_id == silent.id).values(
            started_at=sa.text("date_trunc('second', now()) - interval '3 hours'"),
            last_heartbeat_at=sa.text("date_trunc('second', now()) - interval '2 hours'")))
    earlier = post(api, beat(repeat))
    assert earlier.json()["outcome"] == "heartbeat"
    with Session(engine) as s:
        runs = {r.project_id: r for r in s.exec(select(Run)).all()}
        events_before = len(s.exec(select(HookEvent)).all())
    beats, pool, batcher = _fast_path(
        [beat(first), beat(busy), beat(busy),
         {**beat(repeat), "event_id": json.loads(earlier.request.content)["event_id"]},
         beat(other_machine, machine="m2"), beat(silent), beat(held),
         beat(type("Missing", (), {"id": uuid.uuid4()})())], in_flight=1)

    async def send():
        try:
            return await asyncio.gather(*(batcher.answer(b) for b in beats))
        finally:
            await pool.pool.close()

    with engine.connect() as other:  # another transaction holds `held`
        other.execute(sa.text("SELECT id FROM projects WHERE id = :p FOR UPDATE"),
                      {"p": held.id})
        answers = asyncio.run(send())
        other.rollback()

    # The first went alone; the rest waited and went out together, but busy's second
    # heartbeat, which waited for the statement after.
    assert pool.calls == [("one", 1), ("many", 6), ("one", 1)]
    moved = {"recorded": True, "outcome": "heartbeat"}
    assert [a.body if a else None for a in answers] == [
        {**moved, "run_id": str(runs[first.id].id)}, {**moved, "run_id": str(runs[busy.id].id)},
        {**moved, "run_id": str(runs[busy.id].id)}, earlier.json(), None, None, None, None]
    assert [a.repeat if a else None for a in answers[:4]] == [False, False, False, True]
    with Session(engine) as s:
        after = {r.project_id: r for r in s.exec(select(Run)).all()}
        stored = {(e.project_id, e.event_id) for e in s.exec(select(HookEvent)).all()}
    assert len(stored) == events_before + 3
    assert {(b["project_id"], b["event_id"]) for b in beats[:3]} <= stored
    for unmoved in (repeat, other_machine, silent, held):
        assert after[unmoved.id].last_heartbeat_at == runs[unmoved.id].last_heartbeat_at

    # What the statement left is the regular handler's, which answers as it always does.
    assert post(api, beat(held)).json()["outcome"] == "heartbeat"
    gone = post(api, beat(type("Missing", (), {"id": uuid.uuid4()})()))
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "project_not_found"


@postgres
@pytest.mark.parametrize("statement", ["HEARTBEAT_SQL", "HEARTBEATS_SQL"])
def test_a_cached_plan_finds_an_earlier_event_by_its_key(engine, statement):
    """A connection's cached (generic) plan is made without the tables' statistics on a new
    database: it still looks an event up by the primary key, never by scanning a project's
    events, which grows with every heartbeat."""
    import asyncio

    import asyncpg

    from aether_web.api import heartbeat
    from aether_web.db import database_url
    from aether_web.services import heartbeat as rules

    text, names = heartbeat._compiled(getattr(rules, statement))
    values = {"project_id": uuid.uuid4(), "event_id": "e", "machine_id": "m", "at": None,
              "project_ids": [uuid.uuid4()], "event_ids": ["e"], "machine_ids": ["m"]}

    async def plan() -> str:
        conn = await asyncpg.connect(heartbeat.dsn(database_url()),
                                     server_settings={"plan_cache_mode": "force_generic_plan"})
        try:
            explain = await conn.prepare("EXPLAIN (COSTS OFF) " + text)
            return "\n".join(r[0] for r in await explain.fetch(*[values[n] for n in names]))
        finally:
            await conn.close()

    lines = [line for line in asyncio.run(plan()).splitlines()
             if "on hook_events" in line and "Scan" in line]
    assert lines and all("hook_events_pkey" in line for line in lines), lines


def test_only_the_primary_key_of_hook_events_leads_with_the_project():
    from aether_web.models import HookEvent

    table = HookEvent.__table__
    assert [c.name for c in table.primary_key.columns] == ["project_id", "event_id"]
    assert all(next(iter(ix.columns)).name != "project_id" for ix in table.indexes)


@postgres
def test_a_heartbeat_of_a_held_project_holds_back_no_other(api, engine, make_user,
                                                           make_project):
    """Alone, a heartbeat waits for its project's lock (HEARTBEAT_SQL); past LOCK_TIMEOUT it
    is left to the regular handler, so a worker's few statements in flight are never all
    stuck behind a bill that holds projects while Stripe answers."""
    import asyncio
    import time

    held = [open_run(engine, make_user, make_project) for _ in range(3)]
    free = open_run(engine, make_user, make_project)
    beats, pool, batcher = _fast_path([beat(p) for p in (*held, free)], in_flight=3)

    async def send():
        try:
            answers = [asyncio.ensure_future(batcher.answer(b)) for b in beats[:3]]
            await asyncio.sleep(0.05)  # the three held ones are out, each waiting
            started = time.monotonic()
            last = await batcher.answer(beats[3])
            return await asyncio.gather(*answers), last, time.monotonic() - started
        finally:
            await pool.pool.close()

    with engine.connect() as other:  # another transaction holds three projects for 30 s
        other.execute(sa.text("SELECT id FROM projects WHERE id IN :ids FOR UPDATE")
                      .bindparams(sa.bindparam("ids", expanding=True)),
                      {"ids": [p.id for p in held]})
        answers, last, waited = asyncio.run(asyncio.wait_for(send(), 30))
        other.rollback()
    assert answers == [None, None, None]  # each left to the regular handler
    assert last is not None and last.body["outcome"] == "heartbeat"
    assert waited < 5, waited  # behind LOCK_TIMEOUT (0.2 s), not behind the lock
    assert post(api, beat(held[0])).json()["outcome"] == "heartbeat"
