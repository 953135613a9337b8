"""Starting and stopping project VMs, and keeping the ledger in step with the VM provider.

Our own starts and stops are recorded through the same ledger functions as the orchestrator's
hooks (with generated event ids), so the rules for repeats and ordering hold for both.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session, select

from aether_web.billing.limits import UNVERIFIED_MAX_RUNNING_VMS, can_run_another_vm
from aether_web.db import db_now
from aether_web.errors import LimitReached, ServiceUnavailable
from aether_web.integrations.vm_provider import (
    SIMULATED_PREFIX,
    VMProvider,
    VMProviderError,
    get_vm_provider,
)
from aether_web.models import Profile, Project, Run
from aether_web.observability import log
from aether_web.services.accounts import lock_profile
from aether_web.services.heartbeat import HEARTBEAT, record_heartbeat
from aether_web.services.projects import get_project
from aether_web.services.run_hooks import record_started, record_stopped
from aether_web.services.runs import (
    close_run,
    is_silent,
    last_sign_of_life,
    open_run_of,
    open_runs_of,
)
from aether_web.services.usage_limits import authorize_start, free_users_over_cap

PROVIDER_DOWN = "We couldn't reach the VM service. Please try again in a minute."


def _event_id(provider: VMProvider, kind: str) -> str:
    return f"{provider.name}-{kind}-{uuid.uuid4().hex}"


def start_project(
    session: Session, *, user_id: uuid.UUID, project_id: uuid.UUID | str,
    provider: VMProvider | None = None, now: datetime | None = None,
) -> Project:
    """Start the user's project VM and open its run.

    The user's row is locked before the compute check so two starts can't both slip under
    the cap. Raises NotFound, LimitReached (`compute_limit_reached`, or `verify_email` when an
    unconfirmed account already runs a VM) or ServiceUnavailable.
    """
    provider = provider or get_vm_provider()
    project = get_project(session, user_id=user_id, project_id=project_id)
    lock_profile(session, user_id=user_id)
    authorize_start(session, project_id=project.id, now=now)
    if open_run_of(session, project_id=project.id) is not None:
        return project
    profile = session.get(Profile, user_id)
    running = [r for r in open_runs_of(session, user_id=user_id)
               if r.project_id != project.id]
    if profile is not None and not can_run_another_vm(
            email_verified=profile.email_verified_at is not None, running_vms=len(running)):
        raise LimitReached(
            f"Confirm your email address to run more than {UNVERIFIED_MAX_RUNNING_VMS} VM at "
            "a time: open the link we emailed you, or send it again from Settings.",
            code="verify_email")
    try:
        machine_id = provider.start(project_id=str(project.id), machine_id=project.machine_id,
                                    machine_type=project.machine_type)
    except VMProviderError as exc:
        log.warning("could not start VM of project %s: %s", project.id, exc)
        raise ServiceUnavailable(PROVIDER_DOWN, code="vm_provider_unavailable") from exc
    record_started(session, event_id=_event_id(provider, "start"), project_id=project.id,
                   machine_id=machine_id, machine_type=project.machine_type, now=now,
                   trust_running=True)
    session.refresh(project)
    return project


def _stop(session: Session, project: Project, provider: VMProvider, *, reason: str,
          now: datetime | None) -> Project:
    run = open_run_of(session, project_id=project.id)
    machine_id = (run.machine_id if run is not None else "") or project.machine_id or ""
    if machine_id and (run is not None or project.vm_state != "stopped"):
        try:
            provider.stop(machine_id=machine_id)
        except VMProviderError as exc:
            log.warning("could not stop VM of project %s: %s", project.id, exc)
            raise ServiceUnavailable(PROVIDER_DOWN, code="vm_provider_unavailable") from exc
    if run is not None:
        record_stopped(session, event_id=_event_id(provider, "stop"),
                       project_id=project.id, machine_id=run.machine_id, reason=reason,
                       now=now)
        session.refresh(project)
    if project.vm_state != "stopped":
        project.vm_state = "stopped"
        session.add(project)
    return project


def stop_project(
    session: Session, *, user_id: uuid.UUID, project_id: uuid.UUID | str,
    provider: VMProvider | None = None, now: datetime | None = None,
) -> Project:
    """Stop the user's project VM and close its run now. Stopping a stopped VM is a no-op."""
    project = get_project(session, user_id=user_id, project_id=project_id)
    return _stop(session, project, provider or get_vm_provider(), reason="user_stopped", now=now)


def stop_for_deletion(
    session: Session, *, user_id: uuid.UUID, project_id: uuid.UUID | str,
    provider: VMProvider | None = None, now: datetime | None = None,
) -> None:
    """Before a project is deleted: stop its VM and close its run, so nothing is billed after."""
    project = get_project(session, user_id=user_id, project_id=project_id)
    _stop(session, project, provider or get_vm_provider(), reason="project_deleted", now=now)


def enforce_free_caps(
    session: Session, *, provider: VMProvider | None = None, now: datetime | None = None,
) -> list[uuid.UUID]:
    """Stop every running VM of Free users who have used the month's hours; close the runs.
    Returns the projects stopped. A VM the provider could not stop keeps its run open and is
    tried again next time."""
    provider = provider or get_vm_provider()
    now = (now or db_now(session)).replace(microsecond=0)
    stopped = []
    for user_id in free_users_over_cap(session, now=now):
        lock_profile(session, user_id=user_id)
        for run in open_runs_of(session, user_id=user_id):
            try:
                if run.machine_id:
                    provider.stop(machine_id=run.machine_id)
            except VMProviderError as exc:
                log.warning("could not stop VM %s at the free cap: %s", run.machine_id, exc)
                continue
            record_stopped(session, event_id=f"cap-{run.id}", project_id=run.project_id,
                           machine_id=run.machine_id, reason="compute_limit_reached",
                           now=now)
            stopped.append(run.project_id)
    return stopped


def reconcile_with_provider(
    session: Session, *, provider: VMProvider | None = None, now: datetime | None = None,
) -> dict[str, int]:
    """Bring open runs in line with the machines the provider reports.

    A run whose machine is no longer running is closed at its last sign of life; a run whose
    machine runs counts that as a sign of life; a running machine of a live project with no
    open run gets one; a running machine of a deleted project is stopped. Providers that keep
    no state of their own (the simulation) have nothing to reconcile.
    """
    provider = provider or get_vm_provider()
    counts = {"closed": 0, "confirmed": 0, "opened": 0, "stopped_deleted": 0}
    try:
        machines = provider.list_machines()
    except VMProviderError as exc:
        raise ServiceUnavailable(PROVIDER_DOWN, code="vm_provider_unavailable") from exc
    if machines is None:
        return counts
    now = (now or db_now(session)).replace(microsecond=0)
    by_id = {m.id: m for m in machines}
    open_runs = session.exec(select(Run).where(Run.ended_at.is_(None))).all()
    for run in open_runs:
        project = session.exec(select(Project).where(Project.id == run.project_id)
                               .with_for_update()).one()
        session.refresh(run)
        if run.ended_at is not None:
            continue
        machine = by_id.get(run.machine_id)
        last = last_sign_of_life(run)
        if machine is None or not machine.is_running:
            close_run(session, run=run, at=last, reason="reconciled_not_running")
            project.vm_state = "stopped"
            session.add(project)
            counts["closed"] += 1
        elif is_silent(last, now):
            # It ended where it went silent; the machine, running now, gets a new run below.
            close_run(session, run=run, at=last, reason="heartbeat_lost")
            counts["closed"] += 1
        else:
            run.last_heartbeat_at = max(last, now)
            session.add(run)
            counts["confirmed"] += 1
    for machine in machines:
        if not machine.is_running or not machine.project_id:
            continue
        try:
            pid = uuid.UUID(machine.project_id)
        except ValueError:
            continue
        project = session.get(Project, pid)
        if project is None:
            log.warning("running Fly machine %s belongs to no known project", machine.id)
            continue
        if project.deleted_at is not None:
            try:
                provider.stop(machine_id=machine.id)
                counts["stopped_deleted"] += 1
            except VMProviderError as exc:
                log.warning("could not stop machine %s of a deleted project: %s", machine.id, exc)
            continue
        if open_run_of(session, project_id=pid) is None:
            record_started(session, event_id=_event_id(provider, "reconcile"),
                           project_id=pid, machine_id=machine.id,
                           machine_type=machine.machine_type or project.machine_type,
                           now=now, trust_running=True)
            counts["opened"] += 1
    session.flush()
    return counts


def simulated_heartbeats(session: Session, *, now: datetime | None = None) -> int:
    """Heartbeats for simulated VMs that are alive (the simulation's own orchestrator).

    Runs already silent past the timeout are left for `close_orphaned_runs`: a simulated VM
    dies when the app is down, like a crashed one."""
    if get_vm_provider().name != "simulated":
        return 0
    now = (now or db_now(session)).replace(microsecond=0)
    runs = session.exec(
        select(Run).where(Run.ended_at.is_(None),
                                  Run.machine_id.startswith(SIMULATED_PREFIX))
    ).all()
    beats = 0
    for run in runs:
        if is_silent(last_sign_of_life(run), now):
            continue
        answer = record_heartbeat(session, event_id=f"sim-hb-{uuid.uuid4().hex}",
                                  project_id=run.project_id, machine_id=run.machine_id,
                                  now=now)
        beats += answer.body["outcome"] == HEARTBEAT
    return beats
