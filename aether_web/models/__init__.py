"""All tables. Importing this package registers every one of them on SQLModel.metadata."""

from aether_web.models.accounts import AccountToken, AuthSession, Profile
from aether_web.models.billing import (
    EmailOutbox,
    InvoiceRecord,
    MeterReconciliation,
    OverageMonth,
    OverageReport,
    StripeEvent,
)
from aether_web.models.invoicing import InvoiceCheck, InvoiceReconciliation, OverageAdjustment
from aether_web.models.jobs import JobRun
from aether_web.models.metering import DriftReport, HookEvent
from aether_web.models.plans import PlanIntervalRow, StorageSample
from aether_web.models.projects import Project
from aether_web.models.throttle import ThrottleCounter
from aether_web.models.usage import Run, UsageMonthly

__all__ = [
    "AccountToken",
    "AuthSession",
    "DriftReport",
    "EmailOutbox",
    "HookEvent",
    "InvoiceCheck",
    "InvoiceReconciliation",
    "InvoiceRecord",
    "JobRun",
    "MeterReconciliation",
    "OverageAdjustment",
    "OverageMonth",
    "OverageReport",
    "PlanIntervalRow",
    "Profile",
    "Project",
    "Run",
    "StorageSample",
    "StripeEvent",
    "ThrottleCounter",
    "UsageMonthly",
]
