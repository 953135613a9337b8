"""Metering jobs: thin wrappers over the usage and VM services."""

from __future__ import annotations

from sqlmodel import Session

from aether_web.jobs.registry import Job, register
from aether_web.services import hook_events, runs, storage_accrual, usage_rebuild, vms


def close_orphaned_runs(session: Session) -> str:
    closed = runs.close_orphaned_runs(session)
    return f"closed {len(closed)} runs whose heartbeats stopped"


def reconcile_vms(session: Session) -> str:
    counts = vms.reconcile_with_provider(session)
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def accrue_storage(session: Session) -> str:
    return f"accrued {storage_accrual.accrue_storage(session)} GB-hours"


def rebuild_usage_monthly(session: Session) -> str:
    return usage_rebuild.rebuild_monthly(session).describe()


def enforce_free_caps(session: Session) -> str:
    return f"stopped {len(vms.enforce_free_caps(session))} free VMs at the compute cap"


def simulated_vm_heartbeats(session: Session) -> str:
    return f"{vms.simulated_heartbeats(session)} simulated heartbeats"


def purge_hook_events(session: Session) -> str:
    return f"forgot {hook_events.purge_hook_events(session)} hook answers older than 30 days"


for _job in (
    Job("close_orphaned_runs", close_orphaned_runs, every_seconds=300, max_interval_seconds=1800,
        description="Close runs whose heartbeats stopped, at their last heartbeat."),
    Job("reconcile_vms", reconcile_vms, every_seconds=900, run_at_startup=True,
        max_interval_seconds=3600,
        description="Match open runs with the machines the VM provider reports."),
    Job("accrue_storage", accrue_storage, every_seconds=3600, max_interval_seconds=3 * 3600,
        description="Accrue each project's storage GB-hours into usage_monthly."),
    Job("rebuild_usage_monthly", rebuild_usage_monthly, cron={"hour": 3, "minute": 17},
        max_interval_seconds=26 * 3600,
        description="Rebuild usage_monthly from usage_records; report and correct drift."),
    Job("enforce_free_caps", enforce_free_caps, every_seconds=60, max_interval_seconds=600,
        description="Stop running Free VMs whose compute hours are used up."),
    Job("simulated_vm_heartbeats", simulated_vm_heartbeats, every_seconds=60,
        max_interval_seconds=600,
        description="Heartbeats of the simulated VM provider (embedded default)."),
    Job("purge_hook_events", purge_hook_events, cron={"hour": 4, "minute": 41},
        max_interval_seconds=26 * 3600,
        description="Forget hook answers older than 30 days."),
):
    register(_job)
