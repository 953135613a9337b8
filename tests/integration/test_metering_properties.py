"""Property-based proof of the usage ledger: random hook sequences with repeats, reorderings,
crashes and month boundaries, driven through the service with a controlled database clock."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from aether_web.billing.periods import split_seconds_by_month
from aether_web.db import transaction
from aether_web.models import Profile, Project, Run, UsageMonthly
from aether_web.services import usage_rebuild
from aether_web.services.heartbeat import record_heartbeat
from aether_web.services.run_hooks import REORDER_WINDOW, record_started, record_stopped
from aether_web.services.runs import HEARTBEAT_TIMEOUT, close_orphaned_runs, last_sign_of_life
from tests.conftest import _truncate

KINDS = ("started", "heartbeat", "stopped", "repeat", "orphan_job", "rebuild_job")

step = st.tuples(
    st.sampled_from(KINDS),
    st.integers(min_value=0, max_value=2),  # project
    st.integers(min_value=0, max_value=1),  # machine
    st.integers(min_value=0, max_value=6 * 3600),  # seconds since the previous delivery
    st.integers(min_value=0, max_value=10**6),  # which earlier event a repeat re-sends
)
start_moment = st.datetimes(min_value=datetime(2023, 12, 28), max_value=datetime(2024, 3, 1),
                            timezones=st.just(UTC)).map(lambda d: d.replace(microsecond=0))


def _snapshot(engine) -> list[tuple]:
    with Session(engine) as s:
        runs = s.exec(select(Run).order_by(Run.started_at)).all()
        monthly = s.exec(select(UsageMonthly).order_by(UsageMonthly.month)).all()
        return ([(r.id, r.started_at, r.ended_at, r.last_heartbeat_at) for r in runs]
                + [(m.user_id, m.month, m.compute_seconds) for m in monthly])


def _apply(engine, kind, project, machine, now, event_id):
    with transaction(engine) as s:
        if kind == "started":
            return record_started(s, event_id=event_id, project_id=project,
                                  machine_id=machine, machine_type="shared-cpu-1x",
                                  now=now)
        if kind == "heartbeat":
            return record_heartbeat(s, event_id=event_id, project_id=project,
                                    machine_id=machine, now=now)
        return record_stopped(s, event_id=event_id, project_id=project,
                              machine_id=machine, reason="user", now=now)


def _check_answer(kind, body, machine, now, earlier):
    """Rules 14 and the stray stop, as each answer is given: a heartbeat is counted unless
    another machine's run is alive or this machine stopped moments ago; a start is cancelled
    only by this machine's stop that is the latest of its starts and stops, moments ago."""
    mine = [(k, t) for k, m, t in earlier if m == machine and k in ("started", "stopped")]
    if kind == "heartbeat":
        assert body["outcome"] in ("heartbeat", "opened_from_heartbeat", "machine_mismatch",
                                   "no_open_run"), body
        if body["outcome"] == "no_open_run":  # a late heartbeat of a machine just stopped
            assert mine and mine[-1][0] == "stopped" and now - mine[-1][1] <= REORDER_WINDOW
    if kind == "started" and body["outcome"] == "stopped_before_started":
        last_kind, last_at = mine[-1]
        assert last_kind == "stopped" and now - last_at <= REORDER_WINDOW


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(start=start_moment, steps=st.lists(step, min_size=1, max_size=40))
def test_random_hook_sequences_keep_the_ledger_exact(engine, start, steps):
    _truncate(engine)
    users = [Profile(email=f"{uuid.uuid4().hex[:8]}@example.com", plan="pro") for _ in range(2)]
    with transaction(engine) as s:
        s.add_all(users)
        s.flush()
        projects = [Project(user_id=users[i % 2].id, name=f"p{i}") for i in range(3)]
        s.add_all(projects)
    pids = [p.id for p in projects]

    now = start
    sent: list[tuple[str, uuid.UUID, str, str, dict]] = []  # kind, project, machine, id, answer
    deliveries: dict[uuid.UUID, list[tuple[str, str, datetime]]] = {p: [] for p in pids}
    orphan_runs: list[datetime] = []
    for kind, p_idx, m_idx, gap, pick in steps:
        now = now + timedelta(seconds=gap)
        if kind == "orphan_job":
            with transaction(engine) as s:
                close_orphaned_runs(s, now=now)
            orphan_runs.append(now)
            continue
        if kind == "rebuild_job":
            with transaction(engine) as s:
                assert usage_rebuild.rebuild_monthly(s, now=now).count == 0
            continue
        if kind == "repeat":
            if not sent:
                continue
            r_kind, pid, machine, event_id, first = sent[pick % len(sent)]
            before = _snapshot(engine)
            answer = _apply(engine, r_kind, pid, machine, now, event_id)
            # A repeat returns the first answer and changes nothing.
            assert answer.repeat and answer.body == first
            assert _snapshot(engine) == before
            continue
        pid, machine = pids[p_idx], f"m{p_idx}-{m_idx}"
        event_id = uuid.uuid4().hex
        answer = _apply(engine, kind, pid, machine, now, event_id)
        assert answer.status == 200 and not answer.repeat
        _check_answer(kind, answer.body, machine, now, deliveries[pid])
        sent.append((kind, pid, machine, event_id, answer.body))
        deliveries[pid].append((kind, machine, now))

    with Session(engine) as s:
        runs = s.exec(select(Run)).all()
        monthly = s.exec(select(UsageMonthly)).all()

    expected: dict[tuple, int] = {}
    for pid in pids:
        mine = sorted((r for r in runs if r.project_id == pid), key=lambda r: r.started_at)
        # At most one open run per project, and it is the latest one.
        assert sum(r.ended_at is None for r in mine) <= 1
        assert all(r.ended_at is not None for r in mine[:-1])
        for a, b in itertools.pairwise(mine):
            assert a.ended_at <= b.started_at, "runs of one project overlap"
        looked = orphan_runs + [t for _k, _m, t in deliveries[pid]]
        for run in mine:
            signs = {t for k, m, t in deliveries[pid]
                     if k in ("started", "heartbeat") and m == run.machine_id}
            # Opened by its start, or by a heartbeat of a machine with no open run (rule 14).
            assert run.started_at in signs, "a run opened without a sign of life"
            if run.ended_at is None:
                continue
            assert run.ended_at >= run.started_at
            assert run.duration_seconds == (run.ended_at - run.started_at).total_seconds()
            stops = {t for k, m, t in deliveries[pid] if k == "stopped"}
            if run.end_reason == "heartbeat_lost":
                # Closed at its last sign of life, by a job or hook that came more than the
                # timeout later (rule 13).
                assert run.ended_at in signs
                assert any(j - run.ended_at > HEARTBEAT_TIMEOUT for j in looked)
            elif run.end_reason == "replaced":
                assert run.ended_at in signs
            else:
                assert run.end_reason == "user" and run.ended_at in stops
            # Time the events don't show is never billed: no silence inside a run is longer
            # than the heartbeat timeout.
            inside = sorted({run.started_at, run.ended_at}
                            | {t for t in signs if run.started_at <= t <= run.ended_at})
            assert all(b - a <= HEARTBEAT_TIMEOUT for a, b in itertools.pairwise(inside))
            for month, seconds in split_seconds_by_month(run.started_at, run.ended_at).items():
                key = (run.user_id, month)
                expected[key] = expected.get(key, 0) + seconds

    # Monthly totals equal the split durations of the closed runs: nothing counted twice.
    got = {(m.user_id, m.month): m.compute_seconds for m in monthly if m.compute_seconds}
    assert got == {k: v for k, v in expected.items() if v}
    # The database's GROUP BY splits the runs at the month edges exactly as they were added.
    with Session(engine) as s:
        for month in sorted({k[1] for k in expected}):
            closed = usage_rebuild.compute_seconds_by_user(s, month=month, now=now,
                                                           include_open=False)
            assert closed == {u: v for (u, m), v in expected.items() if m == month and v}
            # Open runs count up to their last sign of life, never to when the reader looks.
            with_open = dict(expected)
            for run in runs:
                if run.ended_at is None:
                    alive = min(last_sign_of_life(run), now)
                    for m, seconds in split_seconds_by_month(run.started_at, alive).items():
                        with_open[(run.user_id, m)] = with_open.get((run.user_id, m), 0) + seconds
            assert usage_rebuild.compute_seconds_by_user(s, month=month, now=now) == {
                u: v for (u, m), v in with_open.items() if m == month and v}
    with transaction(engine) as s:
        months = sorted({k[1] for k in expected})
        assert usage_rebuild.rebuild_monthly(s, now=now, months=months).count == 0
