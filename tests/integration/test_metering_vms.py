"""Start/stop through the VM provider, the free cap, deletion, and the scheduled upkeep."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session, select

from aether_web.db import transaction
from aether_web.errors import LimitReached, NotFound
from aether_web.integrations.vm_provider import (
    SimulatedProvider,
    VMProviderError,
    set_vm_provider,
)
from aether_web.models import DriftReport, Project, Run, UsageMonthly
from aether_web.services import usage_rebuild, vms
from aether_web.services.heartbeat import record_heartbeat
from aether_web.services.run_hooks import record_started, record_stopped
from aether_web.services.runs import HEARTBEAT_TIMEOUT, close_orphaned_runs
from aether_web.services.storage_accrual import accrue_storage, record_storage
from aether_web.services.usage_limits import authorize_start, compute_seconds_used

T0 = datetime(2024, 1, 31, 22, 0, tzinfo=UTC)


class SpyProvider(SimulatedProvider):
    """The simulation, remembering every stop, optionally failing."""

    def __init__(self, fail: bool = False):
        self.stops: list[str] = []
        self.fail = fail

    def stop(self, *, machine_id: str) -> None:
        if self.fail:
            raise VMProviderError("provider down")
        self.stops.append(machine_id)


@pytest.fixture
def spy():
    provider = SpyProvider()
    set_vm_provider(provider)
    yield provider
    set_vm_provider(None)


def runs(engine, project_id=None):
    with Session(engine) as s:
        query = select(Run).order_by(Run.started_at)
        if project_id:
            query = query.where(Run.project_id == project_id)
        return s.exec(query).all()


def start(engine, user, project, now=T0):
    with transaction(engine) as s:
        return vms.start_project(s, user_id=user.id, project_id=project.id, now=now)


def keep_alive(engine, project_id, machine_id, start, end, every=timedelta(minutes=10)):
    """The VM's heartbeats from `start` to `end` (a run silent longer than the heartbeat
    timeout ends at its last sign of life)."""
    at = start + every
    while at <= end:
        with transaction(engine) as s:
            record_heartbeat(s, event_id=uuid.uuid4().hex, project_id=project_id,
                             machine_id=machine_id, now=at)
        at += every


def used_earlier(s, user, project, seconds, at=datetime(2024, 1, 10, tzinfo=UTC)):
    """A closed run of `seconds` this month (the Free cap counts runs, not the cache)."""
    s.add(Run(project_id=project.id, user_id=user.id, machine_id="sim-old",
                      started_at=at, ended_at=at + timedelta(seconds=seconds),
                      last_heartbeat_at=at + timedelta(seconds=seconds),
                      duration_seconds=seconds, end_reason="user_stopped"))


def test_start_then_stop_records_one_run_split_across_months(engine, spy, make_user,
                                                               make_project):
    user = make_user()
    project = make_project(user)
    started = start(engine, user, project)
    assert started.vm_state == "running" and started.machine_id.startswith("sim-")
    keep_alive(engine, project.id, started.machine_id, T0, T0 + timedelta(hours=3))
    with transaction(engine) as s:
        vms.stop_project(s, user_id=user.id, project_id=project.id, now=T0 + timedelta(hours=3))
    [run] = runs(engine)
    assert (run.started_at, run.ended_at, run.end_reason) == (
        T0, T0 + timedelta(hours=3), "user_stopped")
    assert spy.stops == [started.machine_id]
    with Session(engine) as s:
        months = {m.month: m.compute_seconds for m in s.exec(select(UsageMonthly)).all()}
        assert s.get(Project, project.id).vm_state == "stopped"
    assert months == {date(2024, 1, 1): 7200, date(2024, 2, 1): 3600}


def test_starting_a_running_vm_does_not_open_a_second_run(engine, spy, make_user, make_project):
    user = make_user()
    project = make_project(user)
    start(engine, user, project)
    start(engine, user, project, now=T0 + timedelta(minutes=5))
    assert len(runs(engine)) == 1


def test_someone_elses_project_cannot_be_started(engine, spy, make_user, make_project):
    project = make_project(make_user())
    with pytest.raises(NotFound), transaction(engine) as s:
        vms.start_project(s, user_id=make_user().id, project_id=project.id, now=T0)
    assert runs(engine) == []


def test_free_user_at_the_cap_cannot_start(engine, spy, make_user, make_project):
    user = make_user()
    project = make_project(user)
    with transaction(engine) as s:
        used_earlier(s, user, project, 180000)
    with pytest.raises(LimitReached) as refused, transaction(engine) as s:
        vms.start_project(s, user_id=user.id, project_id=project.id, now=T0)
    assert refused.value.code == "compute_limit_reached"
    assert len(runs(engine)) == 1  # only the earlier, closed run


def test_a_running_free_vm_is_stopped_when_the_cap_is_reached(engine, spy, make_user,
                                                               make_project):
    user = make_user()
    project = make_project(user)
    other = make_project(make_user(plan="pro"))
    with transaction(engine) as s:
        used_earlier(s, user, project, 180000 - 600)
    started = start(engine, user, project)
    start(engine, _owner(engine, other), other)
    with transaction(engine) as s:
        assert vms.enforce_free_caps(s, now=T0 + timedelta(minutes=5)) == []
    with transaction(engine) as s:
        assert vms.enforce_free_caps(s, now=T0 + timedelta(minutes=10)) == [project.id]
    run = runs(engine, project.id)[-1]
    assert run.ended_at == T0 + timedelta(minutes=10)
    assert run.end_reason == "compute_limit_reached"
    assert spy.stops == [started.machine_id]
    # The paid user's VM keeps running.
    assert runs(engine, other.id)[0].ended_at is None
    with transaction(engine) as s:
        assert compute_seconds_used(s, user_id=user.id, now=T0 + timedelta(hours=1)) \
            == 180000


def _owner(engine, project):
    from aether_web.models import Profile

    with Session(engine) as s:
        return s.get(Profile, project.user_id)


def test_a_vm_the_provider_cannot_stop_keeps_its_run_open(engine, make_user, make_project):
    user = make_user()
    project = make_project(user)
    provider = SpyProvider(fail=True)
    set_vm_provider(provider)
    try:
        with transaction(engine) as s:
            used_earlier(s, user, project, 180000)
            s.add(Run(project_id=project.id, user_id=user.id, machine_id="sim-x",
                              started_at=T0, last_heartbeat_at=T0))
        with transaction(engine) as s:
            assert vms.enforce_free_caps(s, now=T0 + timedelta(minutes=1)) == []
        assert runs(engine)[-1].ended_at is None
    finally:
        set_vm_provider(None)


def test_deleting_a_project_stops_its_vm_and_its_billing(engine, spy, make_user, make_project):
    from aether_web.services.projects import delete_project

    user = make_user()
    project = make_project(user)
    started = start(engine, user, project)
    keep_alive(engine, project.id, started.machine_id, T0, T0 + timedelta(minutes=30))
    with transaction(engine) as s:
        vms.stop_for_deletion(s, user_id=user.id, project_id=project.id,
                              now=T0 + timedelta(minutes=30))
        delete_project(s, user_id=user.id, project_id=project.id)
    [run] = runs(engine)
    assert run.ended_at == T0 + timedelta(minutes=30) and run.end_reason == "project_deleted"
    assert spy.stops == [started.machine_id]


def test_simulated_heartbeats_keep_a_live_vm_running_but_not_a_dead_one(
        engine, spy, make_user, make_project):
    user = make_user()
    alive, dead = make_project(user), make_project(user)
    start(engine, user, alive, now=T0)
    start(engine, user, dead, now=T0 - timedelta(hours=2))
    with transaction(engine) as s:
        assert vms.simulated_heartbeats(s, now=T0 + timedelta(minutes=1)) == 1
    with transaction(engine) as s:
        closed = close_orphaned_runs(s, now=T0 + timedelta(minutes=10))
    assert [r.project_id for r in closed] == [dead.id]
    dead_run = runs(engine, dead.id)[0]
    # Closed at its last heartbeat (its start), not when the job ran.
    assert dead_run.ended_at == T0 - timedelta(hours=2)
    assert dead_run.end_reason == "heartbeat_lost"
    assert runs(engine, alive.id)[0].last_heartbeat_at == T0 + timedelta(minutes=1)


def test_a_crashed_run_is_closed_at_its_last_heartbeat_within_the_hour(
        engine, make_user, make_project):
    user = make_user()
    project = make_project(user)
    with transaction(engine) as s:
        record_started(s, event_id="a", project_id=project.id, machine_id="m", now=T0)
        record_heartbeat(s, event_id="b", project_id=project.id, machine_id="m",
                         now=T0 + timedelta(minutes=7))
    with transaction(engine) as s:
        assert close_orphaned_runs(s, now=T0 + timedelta(minutes=20)) == []
    with transaction(engine) as s:
        [closed] = close_orphaned_runs(s, now=T0 + timedelta(minutes=23))
    assert closed.ended_at == T0 + timedelta(minutes=7)
    assert HEARTBEAT_TIMEOUT + timedelta(minutes=5) < timedelta(hours=1)


def test_rebuild_reports_and_corrects_drift(engine, make_user, make_project):
    user = make_user()
    project = make_project(user)
    with transaction(engine) as s:
        record_started(s, event_id="a", project_id=project.id, machine_id="m", now=T0)
        record_heartbeat(s, event_id="h", project_id=project.id, machine_id="m",
                         now=T0 + timedelta(minutes=15))
        record_stopped(s, event_id="b", project_id=project.id, machine_id="m",
                       now=T0 + timedelta(minutes=30))
    with transaction(engine) as s:
        assert usage_rebuild.rebuild_monthly(s, now=T0).count == 0
        row = s.exec(select(UsageMonthly)).one()
        row.compute_seconds = 99
        s.add(row)
    with transaction(engine) as s:
        summary = usage_rebuild.rebuild_monthly(s, now=T0)
    assert (summary.count, summary.total_seconds) == (1, 1701)
    [report] = summary.worst
    assert (report.cached_compute_seconds, report.actual_compute_seconds) == (99, 1800)
    with Session(engine) as s:
        assert s.exec(select(UsageMonthly)).one().compute_seconds == 1800
        assert len(s.exec(select(DriftReport)).all()) == 1


def test_storage_accrues_gb_hours_per_month_at_the_size_of_the_time(
        engine, make_user, make_project):
    user = make_user()
    project = make_project(user)
    with transaction(engine) as s:
        record_storage(s, event_id="s1", project_id=project.id, bytes_used=2 * 10**9,
                       now=T0)
    with transaction(engine) as s:  # 2 GB for 3 h: 2 h in January, 1 h in February
        accrue_storage(s, now=T0 + timedelta(hours=3))
    with transaction(engine) as s:  # then 1 GB for 1 h
        record_storage(s, event_id="s2", project_id=project.id, bytes_used=10**9,
                       now=T0 + timedelta(hours=3))
        accrue_storage(s, now=T0 + timedelta(hours=4))
    with transaction(engine) as s:  # a repeat of the hourly job adds nothing
        assert accrue_storage(s, now=T0 + timedelta(hours=4)) == 0
    with Session(engine) as s:
        months = {m.month: m.storage_gb_hours for m in s.exec(select(UsageMonthly)).all()}
    assert months == {date(2024, 1, 1): Decimal("4.0000"), date(2024, 2, 1): Decimal("3.0000")}


def test_one_users_bill_accrues_and_locks_only_that_users_projects(
        engine, make_user, make_project):
    from aether_web.db import is_postgres
    from aether_web.services.invoicing.period_overage import compute_period_overage

    billed, other = make_user(plan="pro"), make_user(plan="pro")
    mine, theirs = make_project(billed), make_project(other)
    with transaction(engine) as s:
        for n, project in enumerate((mine, theirs)):
            record_storage(s, event_id=f"s{n}", project_id=project.id, bytes_used=10**9,
                           now=T0)
    with transaction(engine) as s:  # an invoice gate's or a cancel's bill, Stripe pending
        compute_period_overage(s, user_id=billed.id, month=date(2024, 2, 1),
                               now=T0 + timedelta(hours=3))
        if is_postgres(engine):  # the other user's hooks don't wait on this transaction
            with engine.connect() as c:
                c.exec_driver_sql("SET lock_timeout = '2s'")
                c.exec_driver_sql("SELECT id FROM projects WHERE id = %(id)s FOR UPDATE",
                                  {"id": theirs.id})
                c.rollback()
    with Session(engine) as s:
        assert s.get(Project, mine.id).storage_accrued_until == T0 + timedelta(hours=3)
        assert s.get(Project, theirs.id).storage_accrued_until == T0
        months = {(m.user_id, m.month): m.storage_gb_hours
                  for m in s.exec(select(UsageMonthly)).all()}
    assert months == {(billed.id, date(2024, 1, 1)): Decimal("2.0000"),
                      (billed.id, date(2024, 2, 1)): Decimal("1.0000")}


def test_a_deleted_project_accrues_no_storage_after_deletion(engine, make_user, make_project):
    user = make_user()
    project = make_project(user)
    with transaction(engine) as s:
        record_storage(s, event_id="s1", project_id=project.id, bytes_used=10**9,
                       now=T0)
        p = s.get(Project, project.id)
        p.deleted_at = T0 + timedelta(hours=1)
    with transaction(engine) as s:
        accrue_storage(s, now=T0 + timedelta(hours=5))
    with Session(engine) as s:
        assert s.exec(select(UsageMonthly)).one().storage_gb_hours == Decimal("1.0000")


def test_jobs_are_registered_and_run_by_hand(engine, spy, make_user, make_project):
    from aether_web.jobs.registry import all_jobs
    from aether_web.jobs.runner import run_job
    from aether_web.jobs.status import job_statuses

    names = {"close_orphaned_runs", "reconcile_vms", "accrue_storage", "rebuild_usage_monthly",
             "enforce_free_caps", "simulated_vm_heartbeats", "purge_hook_events"}
    assert names <= set(all_jobs())
    for name in sorted(names):
        outcome = run_job(name)
        assert outcome.status == "succeeded", (name, outcome.detail)
    with Session(engine) as s:
        statuses = job_statuses(s)
    assert all(statuses[n]["last_success_at"] for n in names)


# The Free cap counts usage while on Free (policy rule 6) ------------------------------------

FEB = datetime(2024, 2, 1, tzinfo=UTC)


def _switch(engine, user, plan, at):
    from aether_web.models import Profile
    from aether_web.services.plan_history import change_plan

    with transaction(engine) as s:
        change_plan(s, profile=s.get(Profile, user.id), plan=plan, cause="support", at=at)


def _authorize(engine, project, now):
    with transaction(engine) as s:
        return authorize_start(s, project_id=project.id, now=now)


def test_hours_on_pro_do_not_count_against_the_free_cap(engine, spy, make_user, make_project):
    user = make_user(plan="pro")
    project = make_project(user)
    with transaction(engine) as s:
        used_earlier(s, user, project, 100 * 3600, at=FEB + timedelta(days=2))
    moved = FEB + timedelta(days=19)  # Pro -> Free on the 20th
    _switch(engine, user, "free", moved)
    answer = _authorize(engine, project, moved + timedelta(minutes=1))
    assert answer["allowed"] is True and answer["compute_seconds_used"] == 0
    with transaction(engine) as s:
        used_earlier(s, user, project, 50 * 3600 - 60, at=moved + timedelta(hours=1))
    now = moved + timedelta(days=3)
    assert _authorize(engine, project, now)["compute_seconds_used"] == 50 * 3600 - 60
    # A VM running on Free from here: the job stops it once 50 h on Free are used, not before.
    start(engine, user, project, now=now)
    with transaction(engine) as s:
        assert vms.enforce_free_caps(s, now=now + timedelta(seconds=30)) == []
    with transaction(engine) as s:
        assert vms.enforce_free_caps(s, now=now + timedelta(seconds=60)) == [project.id]
    with pytest.raises(LimitReached) as refused:
        _authorize(engine, project, now + timedelta(minutes=2))
    assert refused.value.code == "compute_limit_reached"
    with Session(engine) as s:
        assert compute_seconds_used(s, user_id=user.id, now=now + timedelta(minutes=2)) \
            == 50 * 3600


def test_free_pro_free_in_one_month_counts_both_free_stretches(engine, spy, make_user,
                                                               make_project):
    from aether_web.services.usage_summary import usage_summary

    user = make_user()
    project = make_project(user)
    with transaction(engine) as s:
        used_earlier(s, user, project, 30 * 3600, at=FEB + timedelta(days=1))  # on Free
    _switch(engine, user, "pro", FEB + timedelta(days=5))
    with transaction(engine) as s:  # 200 h on Pro, and one run across the move back to Free
        used_earlier(s, user, project, 200 * 3600, at=FEB + timedelta(days=6))
        used_earlier(s, user, project, 4 * 3600, at=FEB + timedelta(days=15, hours=22))
    _switch(engine, user, "free", FEB + timedelta(days=16))
    now = FEB + timedelta(days=20)
    # 30 h of the first Free stretch + the run's 2 h after the move; the Pro hours never count.
    assert _authorize(engine, project, now)["compute_seconds_used"] == 32 * 3600
    with Session(engine) as s:
        meter = usage_summary(s, user_id=user.id, now=now)["usage"]
    assert meter["compute_seconds"] == 32 * 3600 and meter["compute_level"] == "ok"
    with transaction(engine) as s:
        used_earlier(s, user, project, 8 * 3600, at=FEB + timedelta(days=17))
    with Session(engine) as s:
        meter = usage_summary(s, user_id=user.id, now=now)["usage"]
    assert meter["compute_seconds"] == 40 * 3600 and meter["compute_level"] == "warning"
    with transaction(engine) as s:
        used_earlier(s, user, project, 10 * 3600, at=FEB + timedelta(days=18))
    with pytest.raises(LimitReached):
        _authorize(engine, project, now)
