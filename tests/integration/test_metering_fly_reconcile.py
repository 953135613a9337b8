"""Starting, stopping and reconciling project VMs against the local Fly Machines emulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from aether_web.db import transaction
from aether_web.errors import ServiceUnavailable
from aether_web.integrations.fly import FlyGateway
from aether_web.integrations.vm_provider import FlyProvider
from aether_web.models import Project, Run
from aether_web.services import vms
from aether_web.services.heartbeat import record_heartbeat
from tools.fly_emulator.testing import RunningEmulator, run_in_thread

T0 = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    with run_in_thread(app_name="aether-projects", token="fly-test-token") as running:
        yield running


@pytest.fixture
def fly(emulator) -> Iterator[FlyProvider]:
    emulator.reset()
    with FlyGateway(emulator.url, emulator.token, emulator.app_name, timeout=5) as gateway:
        yield FlyProvider(gateway)


def runs(engine, project_id):
    with Session(engine) as s:
        return s.exec(select(Run).where(Run.project_id == project_id)
                      .order_by(Run.started_at)).all()


def test_start_and_stop_a_fly_machine(engine, emulator, fly, make_user, make_project):
    user = make_user()
    project = make_project(user)
    with transaction(engine) as s:
        started = vms.start_project(s, user_id=user.id, project_id=project.id, provider=fly,
                                    now=T0)
    assert emulator.store.state_of(started.machine_id) == "started"
    for minute in (10, 20, 30, 40):  # the machine's heartbeats (silence ends a run: rule 13)
        with transaction(engine) as s:
            record_heartbeat(s, event_id=f"hb-{minute}", project_id=project.id,
                             machine_id=started.machine_id,
                             now=T0 + timedelta(minutes=minute))
    with transaction(engine) as s:
        vms.stop_project(s, user_id=user.id, project_id=project.id, provider=fly,
                         now=T0 + timedelta(minutes=42))
    assert emulator.store.state_of(started.machine_id) == "stopped"
    [run] = runs(engine, project.id)
    assert run.duration_seconds == 42 * 60
    # The next start reuses the project's machine.
    with transaction(engine) as s:
        again = vms.start_project(s, user_id=user.id, project_id=project.id, provider=fly,
                                  now=T0 + timedelta(hours=1))
    assert again.machine_id == started.machine_id
    assert len(emulator.store.list_machines()) == 1


def test_a_crashed_machine_has_its_run_closed_at_the_last_sign_of_life(
        engine, emulator, fly, make_user, make_project):
    user = make_user()
    project = make_project(user)
    with transaction(engine) as s:
        started = vms.start_project(s, user_id=user.id, project_id=project.id, provider=fly,
                                    now=T0)
    with transaction(engine) as s:  # Fly still reports it started: a sign of life
        counts = vms.reconcile_with_provider(s, provider=fly, now=T0 + timedelta(minutes=10))
    assert counts["confirmed"] == 1
    emulator.crash(started.machine_id)
    with transaction(engine) as s:
        counts = vms.reconcile_with_provider(s, provider=fly, now=T0 + timedelta(hours=1))
    assert counts["closed"] == 1
    [run] = runs(engine, project.id)
    assert run.ended_at == T0 + timedelta(minutes=10)
    assert run.end_reason == "reconciled_not_running"
    with Session(engine) as s:
        assert s.get(Project, project.id).vm_state == "stopped"


def test_a_started_machine_without_a_run_gets_one(engine, emulator, fly, make_user,
                                                  make_project):
    project = make_project(make_user())
    machine = fly.gateway.create_machine(project_id=str(project.id))
    assert fly.gateway.wait_for_state(machine.id, "started", timeout_s=5)
    with transaction(engine) as s:
        counts = vms.reconcile_with_provider(s, provider=fly, now=T0)
    assert counts["opened"] == 1
    [run] = runs(engine, project.id)
    assert run.machine_id == machine.id and run.started_at == T0 and run.ended_at is None
    with transaction(engine) as s:  # a second pass changes nothing
        assert vms.reconcile_with_provider(s, provider=fly, now=T0)["opened"] == 0
    assert len(runs(engine, project.id)) == 1


def test_a_deleted_projects_machine_is_stopped(engine, emulator, fly, make_user, make_project):
    project = make_project(make_user(), deleted_at=T0)
    machine = fly.gateway.create_machine(project_id=str(project.id))
    fly.gateway.wait_for_state(machine.id, "started", timeout_s=5)
    with transaction(engine) as s:
        counts = vms.reconcile_with_provider(s, provider=fly, now=T0)
    assert counts["stopped_deleted"] == 1
    assert emulator.store.state_of(machine.id) in ("stopping", "stopped")
    assert runs(engine, project.id) == []


def test_fly_unreachable_is_a_clear_error_and_records_nothing(engine, make_user, make_project):
    user = make_user()
    project = make_project(user)
    gateway = FlyGateway("http://127.0.0.1:9", "t", "a", timeout=1, retry_backoff_s=0)
    with gateway, pytest.raises(ServiceUnavailable) as failed, transaction(engine) as s:
        vms.start_project(s, user_id=user.id, project_id=project.id,
                          provider=FlyProvider(gateway), now=T0)
    assert failed.value.code == "vm_provider_unavailable"
    assert runs(engine, project.id) == []
