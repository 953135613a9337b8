"""The signed orchestrator hooks over HTTP, as the orchestrator sends them."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from aether_web import metrics
from aether_web.api.hooks import sign, verify_signature
from aether_web.models import HookEvent, Project, Run, UsageMonthly
from tests.usage_support import add_month_runs

SECRET = "test-hook-secret-0001"
OLD_SECRET = "test-hook-secret-old"


def post(api, path, body, *, secret=SECRET, timestamp=None, raw=None, header=None):
    data = raw if raw is not None else json.dumps(body).encode()
    signature = header if header is not None else sign(data, secret, timestamp)
    return api.post(path, content=data, headers={"Aether-Signature": signature,
                                                 "Content-Type": "application/json"})


def runs(engine):
    with Session(engine) as s:
        return s.exec(select(Run).order_by(Run.started_at)).all()


def started(project, event_id=None, machine="m1"):
    return {"event_id": event_id or uuid.uuid4().hex, "project_id": str(project.id),
            "machine_id": machine, "machine_type": "shared-cpu-1x"}


# Signatures ---------------------------------------------------------------------------------


def test_verify_signature_rules():
    body = b'{"a":1}'
    now = 1_700_000_000
    good = sign(body, "s1", now)
    assert verify_signature(good, body, ["s1"], tolerance=300, now=now)
    assert verify_signature(good, body, ["new", "s1"], tolerance=300, now=now + 300)
    assert not verify_signature(good, body, ["s1"], tolerance=300, now=now + 301)
    assert not verify_signature(good, body, ["s1"], tolerance=300, now=now - 301)
    assert not verify_signature(good, body + b" ", ["s1"], tolerance=300, now=now)
    assert not verify_signature(good, body, ["s2"], tolerance=300, now=now)
    assert not verify_signature(None, body, ["s1"], tolerance=300, now=now)
    assert not verify_signature("t=abc,v1=00", body, ["s1"], tolerance=300, now=now)
    assert not verify_signature(f"t={now}", body, ["s1"], tolerance=300, now=now)
    # Several v1 values are allowed (the sender may sign with old and new secrets).
    both = f"t={now},v1=deadbeef,v1={good.split('v1=')[1]}"
    assert verify_signature(both, body, ["s1"], tolerance=300, now=now)


@pytest.mark.parametrize("case", ["missing", "wrong_secret", "stale", "future", "tampered",
                                  "garbage"])
def test_bad_signatures_get_401_and_change_nothing(api, engine, make_user, make_project, case):
    project = make_project(make_user())
    body = json.dumps(started(project)).encode()
    headers = {
        "missing": "",
        "wrong_secret": sign(body, "not-the-secret"),
        "stale": sign(body, SECRET, int(time.time()) - 301),
        # Well past the 300 s tolerance: a signature 301 s ahead comes within it once the
        # request takes over a second on a loaded machine.
        "future": sign(body, SECRET, int(time.time()) + 360),
        "tampered": sign(body.replace(b"m1", b"m2"), SECRET),
        "garbage": "v1=,t=",
    }
    response = post(api, "/api/hooks/vm/started", None, raw=body, header=headers[case])
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert runs(engine) == []
    with Session(engine) as s:
        assert s.exec(select(HookEvent)).all() == []


def test_a_rotated_out_secret_still_works_during_rotation(api, engine, make_user, make_project):
    project = make_project(make_user())
    response = post(api, "/api/hooks/vm/started", started(project), secret=OLD_SECRET)
    assert response.status_code == 200
    assert response.json()["outcome"] == "opened"


def test_signature_within_tolerance_is_accepted(api, make_user, make_project):
    project = make_project(make_user())
    response = post(api, "/api/hooks/vm/started", started(project),
                    timestamp=int(time.time()) - 290)
    assert response.status_code == 200


# Lifecycle ----------------------------------------------------------------------------------


def test_start_heartbeat_stop_records_one_closed_run(api, engine, make_user, make_project):
    user = make_user()
    project = make_project(user)
    r = post(api, "/api/hooks/vm/started", started(project, "ev-start"))
    assert r.status_code == 200, r.text
    assert r.json()["recorded"] is True and r.json()["outcome"] == "opened"
    run_id = r.json()["run_id"]
    r = post(api, "/api/hooks/vm/heartbeat", {"event_id": "ev-hb", "project_id": str(project.id),
                                              "machine_id": "m1"})
    assert r.json() == {"recorded": True, "outcome": "heartbeat", "run_id": run_id}
    with Session(engine) as s:
        assert s.get(Project, project.id).vm_state == "running"
    r = post(api, "/api/hooks/vm/stopped", {"event_id": "ev-stop", "project_id": str(project.id),
                                            "machine_id": "m1", "reason": "idle"})
    assert r.status_code == 200
    assert r.json()["outcome"] == "closed" and r.json()["run_id"] == run_id
    [run] = runs(engine)
    assert run.ended_at is not None and run.end_reason == "idle"
    assert run.duration_seconds == r.json()["duration_seconds"] >= 0
    with Session(engine) as s:
        assert s.get(Project, project.id).vm_state == "stopped"
        monthly = s.exec(select(UsageMonthly).where(UsageMonthly.user_id == user.id)).all()
        assert sum(m.compute_seconds for m in monthly) == run.duration_seconds


def test_a_repeated_event_returns_the_first_answer_and_changes_nothing(
        api, engine, make_user, make_project):
    project = make_project(make_user())
    body = started(project, "ev-1")
    first = post(api, "/api/hooks/vm/started", body)
    stop = {"event_id": "ev-2", "project_id": str(project.id), "machine_id": "m1"}
    post(api, "/api/hooks/vm/stopped", stop)
    before = [(r.id, r.started_at, r.ended_at) for r in runs(engine)]
    again = post(api, "/api/hooks/vm/started", body)
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["Aether-Repeat"] == "true"
    stop_again = post(api, "/api/hooks/vm/stopped", stop)
    assert stop_again.json()["outcome"] == "closed"
    assert [(r.id, r.started_at, r.ended_at) for r in runs(engine)] == before


def test_a_second_started_for_the_running_machine_does_not_open_another_run(
        api, engine, make_user, make_project):
    project = make_project(make_user())
    post(api, "/api/hooks/vm/started", started(project))
    r = post(api, "/api/hooks/vm/started", started(project))
    assert r.json()["outcome"] == "already_open" and r.json()["recorded"] is False
    assert len(runs(engine)) == 1


def test_a_stop_before_its_start_never_opens_a_run(api, engine, make_user, make_project):
    project = make_project(make_user())
    stop = post(api, "/api/hooks/vm/stopped", {"event_id": "s", "project_id": str(project.id),
                                               "machine_id": "m9", "reason": "user"})
    assert stop.json()["outcome"] == "stopped_before_started"
    late_start = post(api, "/api/hooks/vm/started", started(project, "late", machine="m9"))
    assert late_start.json()["outcome"] == "stopped_before_started"
    assert late_start.json()["recorded"] is False
    assert runs(engine) == []
    # The early stop is used up: the machine's next start opens a run.
    assert post(api, "/api/hooks/vm/started", started(project, "next", machine="m9")
                ).json()["outcome"] == "opened"


def test_a_repeated_stop_for_a_closed_run_counts_nothing(api, engine, make_user, make_project):
    project = make_project(make_user())
    post(api, "/api/hooks/vm/started", started(project))
    pid = str(project.id)
    post(api, "/api/hooks/vm/stopped", {"event_id": "a", "project_id": pid, "machine_id": "m1"})
    again = post(api, "/api/hooks/vm/stopped",
                 {"event_id": "b", "project_id": pid, "machine_id": "m1"})
    assert again.json()["outcome"] == "already_closed"
    assert len(runs(engine)) == 1
    assert post(api, "/api/hooks/vm/started", started(project)).json()["outcome"] == "opened"


def test_a_heartbeat_without_an_open_run_opens_one_from_that_heartbeat(
        api, engine, make_user, make_project):
    # Rule 14: its start was lost, but a VM that shows signs of life is never free of charge.
    project = make_project(make_user())
    r = post(api, "/api/hooks/vm/heartbeat", {"event_id": "h", "project_id": str(project.id),
                                              "machine_id": "m1"})
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "opened_from_heartbeat" and r.json()["recorded"] is True
    [run] = runs(engine)
    assert str(run.id) == r.json()["run_id"] and run.ended_at is None
    assert run.machine_id == "m1" and run.started_at == run.last_heartbeat_at
    with Session(engine) as s:
        assert s.get(Project, project.id).vm_state == "running"
    # The late start of that machine finds its run open.
    late = post(api, "/api/hooks/vm/started", started(project))
    assert late.json()["outcome"] == "already_open" and late.json()["run_id"] == str(run.id)


def test_event_ids_are_unique_per_project(api, engine, make_user, make_project):
    # Rule 15: project B reusing project A's event_id is a different event.
    a, b = make_project(make_user()), make_project(make_user())
    first_a = post(api, "/api/hooks/vm/started", started(a, "shared-id"))
    first_b = post(api, "/api/hooks/vm/started", started(b, "shared-id"))
    assert first_a.json()["outcome"] == first_b.json()["outcome"] == "opened"
    assert "Aether-Repeat" not in first_b.headers
    assert first_a.json()["run_id"] != first_b.json()["run_id"]
    for project, first in ((a, first_a), (b, first_b)):
        again = post(api, "/api/hooks/vm/started", started(project, "shared-id"))
        assert again.json() == first.json() and again.headers["Aether-Repeat"] == "true"
    beats = [post(api, "/api/hooks/vm/heartbeat", {"event_id": "shared-hb", "machine_id": "m1",
                                                   "project_id": str(p.id)}) for p in (a, b)]
    assert [h.json()["run_id"] for h in beats] == [first_a.json()["run_id"],
                                                    first_b.json()["run_id"]]
    assert all(h.json()["outcome"] == "heartbeat" and "Aether-Repeat" not in h.headers
               for h in beats)
    stops = [post(api, "/api/hooks/vm/stopped", {"event_id": "shared-stop", "machine_id": "m1",
                                                 "project_id": str(p.id)}) for p in (a, b)]
    assert [x.json()["outcome"] for x in stops] == ["closed", "closed"]
    assert all(r.ended_at is not None for r in runs(engine)) and len(runs(engine)) == 2
    with Session(engine) as s:
        events = s.exec(select(HookEvent).where(HookEvent.event_id == "shared-id")).all()
    assert sorted(str(e.project_id) for e in events) == sorted([str(a.id), str(b.id)])


def test_deleted_project_cannot_start(api, engine, make_user, make_project):
    project = make_project(make_user(), deleted_at=datetime.now(UTC))
    r = post(api, "/api/hooks/vm/started", started(project))
    assert r.status_code == 409 and r.json()["error"]["code"] == "project_deleted"
    assert runs(engine) == []
    r = post(api, "/api/hooks/vm/authorize", {"project_id": str(project.id)})
    assert r.status_code == 404


# Bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "code"), [
    (b"{not json", "malformed_json"),
    (b"[1, 2]", "malformed_json"),
    (b'{"project_id": "x"}', "invalid_body"),
    (b'{"event_id": "e", "project_id": "not-a-uuid", "machine_id": "m"}', "invalid_project_id"),
    (b'{"event_id": 5, "project_id": "00000000-0000-0000-0000-000000000000", "machine_id": "m"}',
     "invalid_body"),
])
def test_malformed_bodies_get_400(api, raw, code):
    r = post(api, "/api/hooks/vm/started", None, raw=raw)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == code


def test_unknown_project_gets_404(api):
    r = post(api, "/api/hooks/vm/started", {"event_id": "e", "project_id": str(uuid.uuid4()),
                                            "machine_id": "m"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "project_not_found"


def test_storage_bytes_must_be_a_whole_number(api, make_user, make_project):
    project = make_project(make_user())
    for bad in (-1, 1.5, "10", True, None):
        r = post(api, "/api/hooks/storage", {"event_id": "s", "project_id": str(project.id),
                                             "bytes_used": bad})
        assert r.status_code == 400, bad


def test_hooks_are_counted_for_metrics(api, make_user, make_project):
    project = make_project(make_user())

    def count(status):
        key = ("aether_hook_requests_total", (("kind", "started"), ("status", status)))
        return metrics.snapshot().get(key, 0)

    ok, unauthorized = count("200"), count("401")
    post(api, "/api/hooks/vm/started", started(project))
    post(api, "/api/hooks/vm/started", started(project), secret="wrong")
    assert count("200") == ok + 1 and count("401") == unauthorized + 1


# Authorize and storage ----------------------------------------------------------------------


def _set_month_usage(engine, user, project, seconds):
    with Session(engine) as s:
        add_month_runs(s, user_id=user.id, project_id=project.id, seconds=seconds)
        s.commit()


def test_authorize_allows_within_the_cap(api, make_user, make_project):
    project = make_project(make_user())
    r = post(api, "/api/hooks/vm/authorize", {"project_id": str(project.id)})
    assert r.status_code == 200 and r.json()["allowed"] is True


def test_authorize_refuses_a_free_user_with_no_hours_left(api, engine, make_user, make_project):
    user = make_user()
    project = make_project(user)
    _set_month_usage(engine, user, project, 50 * 3600)
    r = post(api, "/api/hooks/vm/authorize", {"project_id": str(project.id)})
    assert r.status_code == 402
    assert r.json()["error"]["code"] == "compute_limit_reached"


def test_authorize_lets_a_paid_user_run_into_overage(api, engine, make_user, make_project):
    user = make_user(plan="pro")
    project = make_project(user)
    _set_month_usage(engine, user, project, 300 * 3600)
    r = post(api, "/api/hooks/vm/authorize", {"project_id": str(project.id)})
    assert r.status_code == 200 and r.json()["allowed"] is True


def test_authorize_unknown_project_is_404(api):
    r = post(api, "/api/hooks/vm/authorize", {"project_id": str(uuid.uuid4())})
    assert r.status_code == 404


def test_storage_warns_then_refuses_on_free(api, engine, make_user, make_project):
    user = make_user()
    project = make_project(user)
    pid = str(project.id)
    r = post(api, "/api/hooks/storage", {"event_id": "s1", "project_id": pid,
                                         "bytes_used": 500_000_000})
    assert r.status_code == 200 and r.json()["warning"] is None
    check = post(api, "/api/hooks/storage/check", {"project_id": pid,
                                                   "additional_bytes": 100_000_000})
    assert check.json() == {"allowed": True, "reason": "ok", "storage_bytes": 500_000_000,
                            "limit_bytes": 1_000_000_000}
    r = post(api, "/api/hooks/storage", {"event_id": "s2", "project_id": pid,
                                         "bytes_used": 850_000_000})
    assert r.json()["warning"] == "storage_near_limit"
    near = post(api, "/api/hooks/storage/check", {"project_id": pid, "additional_bytes": 0})
    assert near.json()["allowed"] is True and near.json()["reason"] == "storage_near_limit"
    over = post(api, "/api/hooks/storage/check", {"project_id": pid,
                                                  "additional_bytes": 200_000_000})
    assert over.json()["allowed"] is False
    assert over.json()["reason"] == "storage_limit_reached"
    with Session(engine) as s:
        assert s.get(Project, project.id).storage_bytes == 850_000_000


def test_paid_storage_is_never_refused(api, make_user, make_project):
    project = make_project(make_user(plan="pro"))
    pid = str(project.id)
    post(api, "/api/hooks/storage", {"event_id": "s", "project_id": pid,
                                     "bytes_used": 20 * 10**9})
    check = post(api, "/api/hooks/storage/check", {"project_id": pid,
                                                   "additional_bytes": 10**9})
    assert check.json()["allowed"] is True


def test_storage_check_rejects_bad_sizes(api, make_user, make_project):
    project = make_project(make_user())
    r = post(api, "/api/hooks/storage/check", {"project_id": str(project.id),
                                               "additional_bytes": -5})
    assert r.status_code == 400


# Usage summary ------------------------------------------------------------------------------


def test_usage_summary_needs_a_signed_in_user(api):
    r = api.get("/api/billing/usage")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"


def test_usage_summary_has_the_prd_shape(engine, client_for, make_user, make_project,
                                         monkeypatch):
    # The summary is priced from the runs (usage_monthly is only their cache), so the month
    # needs 202 h of runs: seen from the 20th of this month.
    import aether_web.services.usage_summary as summary_module

    today = datetime.now(UTC)
    start = datetime(today.year, today.month, 1, tzinfo=UTC)
    monkeypatch.setattr(summary_module, "db_now", lambda _s: start + timedelta(days=19))
    user = make_user(plan="pro")
    project = make_project(user)
    make_project(user)
    with Session(engine) as s:
        s.add(Run(project_id=project.id, user_id=user.id, started_at=start,
                          ended_at=start + timedelta(hours=202)))
        s.commit()
    body = client_for(user).get("/api/billing/usage").json()
    assert body["plan"] == "pro"
    assert body["period"]["start"].endswith("-01T00:00:00Z")
    assert body["period"]["end"].endswith("T23:59:59Z")
    assert body["limits"] == {"compute_hours": 200, "storage_gb": 10, "max_projects": 20}
    assert body["usage"]["compute_hours"] == 202.0
    assert body["usage"]["compute_percent"] == 101
    assert body["usage"]["project_count"] == 2
    assert body["usage"]["storage_gb"] == 0.0 and body["usage"]["storage_percent"] == 0
    this_month = body["history"][0]
    assert this_month["compute_hours"] == 202.0
    assert this_month["overage_cents"] == 20 and this_month["overage_cost"] == 0.2
    assert this_month["overage_explanation"] == "2 h overage"


# Run edges (policy rules 13 and 14), on the database clock the tests drive -----------------

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _hook(engine, kind, project, at, machine="m1", event_id=None):
    from aether_web.db import transaction
    from aether_web.services.heartbeat import record_heartbeat
    from aether_web.services.run_hooks import record_started, record_stopped

    fn = {"started": record_started, "heartbeat": record_heartbeat,
          "stopped": record_stopped}[kind]
    with transaction(engine) as s:
        return fn(s, event_id=event_id or uuid.uuid4().hex, project_id=project.id,
                  machine_id=machine, now=at).body


def _orphan_job(engine, at):
    from aether_web.db import transaction
    from aether_web.services.runs import close_orphaned_runs

    with transaction(engine) as s:
        return [(r.id, r.ended_at) for r in close_orphaned_runs(s, now=at)]


def _month_seconds(engine, user):
    with Session(engine) as s:
        return sum(m.compute_seconds for m in s.exec(
            select(UsageMonthly).where(UsageMonthly.user_id == user.id)).all())


def _minutes(n):
    from datetime import timedelta

    return timedelta(minutes=n)


def test_a_stop_two_days_after_the_last_heartbeat_bills_only_to_that_heartbeat(
        engine, make_user, make_project):
    # Rule 13: the stop agrees with the orphan job, which had not run yet.
    user = make_user(plan="pro")
    by_stop, by_job = make_project(user), make_project(user)
    for project in (by_stop, by_job):
        _hook(engine, "started", project, T0)
        _hook(engine, "heartbeat", project, T0 + _minutes(10))
    stop = _hook(engine, "stopped", by_stop, T0 + _minutes(2 * 24 * 60))
    assert stop["outcome"] == "closed" and stop["duration_seconds"] == 600
    [(_, job_end)] = _orphan_job(engine, T0 + _minutes(2 * 24 * 60))
    stopped_run, job_run = (next(r for r in runs(engine) if r.project_id == p.id)
                            for p in (by_stop, by_job))
    assert stopped_run.ended_at == job_run.ended_at == job_end == T0 + _minutes(10)
    assert stopped_run.end_reason == job_run.end_reason == "heartbeat_lost"
    assert _month_seconds(engine, user) == 2 * 600


@pytest.mark.parametrize(("silence", "billed"), [(15, 15 * 60), (16, 0)],
                         ids=["at_the_timeout", "past_it"])
def test_a_stop_after_the_start_alone_ends_at_the_start_once_past_the_timeout(
        engine, make_user, make_project, silence, billed):
    project = make_project(make_user())
    _hook(engine, "started", project, T0)
    stop = _hook(engine, "stopped", project, T0 + _minutes(silence))
    assert stop["outcome"] == "closed" and stop["duration_seconds"] == billed


def test_heartbeats_resuming_after_a_silent_close_are_billed_and_the_restart_opens(
        engine, make_user, make_project):
    user = make_user(plan="pro")
    project = make_project(user)
    _hook(engine, "started", project, T0)
    _hook(engine, "heartbeat", project, T0 + _minutes(5))
    [(_, ended)] = _orphan_job(engine, T0 + _minutes(60))
    assert ended == T0 + _minutes(5)
    # The VM was alive after all: its heartbeats resume, and are billed from the first.
    resumed = _hook(engine, "heartbeat", project, T0 + _minutes(120))
    assert resumed["outcome"] == "opened_from_heartbeat" and resumed["recorded"] is True
    for minute in range(130, 361, 10):
        assert _hook(engine, "heartbeat", project, T0 + _minutes(minute))["outcome"] == \
            "heartbeat"
    stop = _hook(engine, "stopped", project, T0 + _minutes(361))
    assert stop["outcome"] == "closed" and stop["run_id"] == resumed["run_id"]
    assert stop["duration_seconds"] == 241 * 60
    # A restart a minute later opens a run: no stray stop is waiting to swallow it.
    restart = _hook(engine, "started", project, T0 + _minutes(362))
    assert restart["outcome"] == "opened"
    assert [r.started_at for r in runs(engine)] == [T0, T0 + _minutes(120), T0 + _minutes(362)]
    assert _month_seconds(engine, user) == 5 * 60 + 241 * 60


def test_a_late_stop_of_a_run_closed_as_silent_never_swallows_the_restart(
        engine, make_user, make_project):
    project = make_project(make_user())
    _hook(engine, "started", project, T0)
    _hook(engine, "heartbeat", project, T0 + _minutes(1))
    _orphan_job(engine, T0 + _minutes(30))
    late = _hook(engine, "stopped", project, T0 + _minutes(120))
    assert late["outcome"] == "already_closed"  # the silent run's own stop
    restart = _hook(engine, "started", project, T0 + _minutes(121))
    assert restart["outcome"] == "opened"
    # A second stop for that machine is a new one: it closes the new run.
    assert _hook(engine, "stopped", project, T0 + _minutes(125))["outcome"] == "closed"


def test_a_stray_stop_cancels_only_the_start_it_belongs_to(engine, make_user, make_project):
    project = make_project(make_user())
    # A stop, then a heartbeat sent before it, then the start: the three of a 0 s run
    # delivered backwards. Nothing is opened.
    assert _hook(engine, "stopped", project, T0)["outcome"] == "stopped_before_started"
    assert _hook(engine, "heartbeat", project, T0 + _minutes(1))["outcome"] == "no_open_run"
    assert _hook(engine, "started", project, T0 + _minutes(2))["outcome"] == \
        "stopped_before_started"
    # Another machine's start is not that stop's.
    assert _hook(engine, "started", project, T0 + _minutes(3), machine="m2")["outcome"] == \
        "opened"
    _hook(engine, "stopped", project, T0 + _minutes(3), machine="m2")
    # The machine's next start is a later one: the stop is used up.
    assert _hook(engine, "started", project, T0 + _minutes(4))["outcome"] == "opened"
    assert [r.machine_id for r in runs(engine)] == ["m2", "m1"]


def test_a_late_heartbeat_after_a_stop_opens_nothing_but_a_living_machine_is_billed(
        engine, make_user, make_project):
    project = make_project(make_user())
    _hook(engine, "started", project, T0)
    _hook(engine, "stopped", project, T0 + _minutes(10))
    assert _hook(engine, "heartbeat", project, T0 + _minutes(11))["outcome"] == "no_open_run"
    assert len(runs(engine)) == 1
    # Minutes later the machine is still alive (its next start was lost): it gets a run.
    alive = _hook(engine, "heartbeat", project, T0 + _minutes(16))
    assert alive["outcome"] == "opened_from_heartbeat"
    assert runs(engine)[-1].started_at == T0 + _minutes(16)


def test_a_heartbeat_or_start_after_a_silence_closes_the_silent_run_first(
        engine, make_user, make_project):
    user = make_user(plan="pro")
    project = make_project(user)
    _hook(engine, "started", project, T0)
    _hook(engine, "heartbeat", project, T0 + _minutes(1))
    # Silent for an hour, before the orphan job looked: the hour is not billed.
    beat = _hook(engine, "heartbeat", project, T0 + _minutes(61))
    assert beat["outcome"] == "opened_from_heartbeat"
    first, second = runs(engine)
    assert (first.ended_at, first.end_reason) == (T0 + _minutes(1), "heartbeat_lost")
    assert second.started_at == T0 + _minutes(61) and second.ended_at is None
    # The same for a start of that machine.
    again = _hook(engine, "started", project, T0 + _minutes(120))
    assert again["outcome"] == "opened"
    assert runs(engine)[1].ended_at == T0 + _minutes(61)
    assert _month_seconds(engine, user) == 60


def test_another_machine_gets_a_run_only_once_the_open_one_went_silent(
        engine, make_user, make_project):
    project = make_project(make_user())
    _hook(engine, "started", project, T0)
    busy = _hook(engine, "heartbeat", project, T0 + _minutes(5), machine="m2")
    assert busy["outcome"] == "machine_mismatch" and busy["recorded"] is False
    took_over = _hook(engine, "heartbeat", project, T0 + _minutes(20), machine="m2")
    assert took_over["outcome"] == "opened_from_heartbeat"
    old, new = runs(engine)
    assert (old.machine_id, old.ended_at) == ("m1", T0)
    assert (new.machine_id, new.started_at) == ("m2", T0 + _minutes(20))


def test_a_deleted_project_gets_no_run_from_a_heartbeat(engine, make_user, make_project):
    project = make_project(make_user(), deleted_at=T0)
    answer = _hook(engine, "heartbeat", project, T0 + _minutes(1))
    assert answer == {"recorded": False, "outcome": "project_deleted", "run_id": None}
    assert runs(engine) == []


def test_a_start_and_its_stop_in_one_second_then_a_late_heartbeat_opens_nothing(
        engine, make_user, make_project):
    """Database time has whole seconds: a 0 s run's start and stop share one, and the stop is
    the later of the two (it closed the run the start opened)."""
    project = make_project(make_user())
    assert _hook(engine, "started", project, T0)["outcome"] == "opened"
    assert _hook(engine, "stopped", project, T0)["outcome"] == "closed"
    assert _hook(engine, "heartbeat", project, T0)["outcome"] == "no_open_run"
    assert len(runs(engine)) == 1
    # A restart in that same second is later than the stop: its heartbeat moves the new run.
    assert _hook(engine, "started", project, T0)["outcome"] == "opened"
    assert _hook(engine, "heartbeat", project, T0)["outcome"] == "heartbeat"
    assert len(runs(engine)) == 2
