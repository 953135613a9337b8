"""All tables. Importing this package registers every one of them on SQLModel.metadata."""

from aether_web.models.accounts import PLANS, AuthSession, LoginAttempt, Profile
from aether_web.models.billing import (
    EmailOutbox,
    InvoiceRecord,
    MeterReconciliation,
    OverageReport,
    StripeEvent,
)
from aether_web.models.jobs import JobRun
from aether_web.models.metering import DriftReport, HookEvent
from aether_web.models.plans import PlanIntervalRow, StorageSample
from aether_web.models.projects import Project
from aether_web.models.usage import PlanLimit, UsageMonthly, UsageRecord

__all__ = [
    "PLANS",
    "AuthSession",
    "DriftReport",
    "EmailOutbox",
    "HookEvent",
    "InvoiceRecord",
    "JobRun",
    "LoginAttempt",
    "MeterReconciliation",
    "OverageReport",
    "PlanIntervalRow",
    "PlanLimit",
    "Profile",
    "Project",
    "StorageSample",
    "StripeEvent",
    "UsageMonthly",
    "UsageRecord",
]
