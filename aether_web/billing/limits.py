"""Plan limit decisions, as pure functions of counts and the plan."""

from __future__ import annotations

from aether_web.billing.plans import Plan

WARNING_RATIO = 0.8


def can_create_project(plan: Plan, active_projects: int) -> bool:
    """Whether one more project fits the plan's project cap (for every plan)."""
    return plan.max_projects is None or active_projects < plan.max_projects


def can_start_vm(plan: Plan, compute_seconds_used: int) -> bool:
    """Free has a hard compute cap; paid plans run on and pay overage."""
    return plan.is_paid or compute_seconds_used < plan.compute_seconds


# An account whose email address is not confirmed runs one VM at a time (free-tier abuse).
UNVERIFIED_MAX_RUNNING_VMS = 1


def can_run_another_vm(*, email_verified: bool, running_vms: int) -> bool:
    """Whether one more VM may run at once: unlimited once the address is confirmed."""
    return email_verified or running_vms < UNVERIFIED_MAX_RUNNING_VMS


def usage_percent(used: float, limit: float) -> int:
    """Whole percent of a limit used, floored so 99.9% never shows as 100%."""
    if limit <= 0:
        return 100
    return int(used * 100 // limit)


def usage_level(used: float, limit: float) -> str:
    """"ok", "warning" from 80% or "limit" at 100% and over."""
    if limit <= 0 or used >= limit:
        return "limit"
    if used >= limit * WARNING_RATIO:
        return "warning"
    return "ok"
