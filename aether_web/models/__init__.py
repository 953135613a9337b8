"""All tables. Importing this package registers every one of them on SQLModel.metadata."""

from aether_web.models.accounts import PLANS, AccountToken, AuthSession, Profile
from aether_web.models.billing import (
    EmailOutbox,
    InvoiceRecord,
    MeterReconciliation,
    OverageReport,
    StripeEvent,
)
from aether_web.models.jobs import JobRun
from aether_web.models.metering import DriftReport, HookEvent
from aether_web.models.projects import Project
from aether_web.models.throttle import ThrottleCounter
from aether_web.models.usage import PlanLimit, UsageMonthly, UsageRecord

__all__ = [
    "PLANS",
    "AccountToken",
    "AuthSession",
    "DriftReport",
    "EmailOutbox",
    "HookEvent",
    "InvoiceRecord",
    "JobRun",
    "MeterReconciliation",
    "OverageReport",
    "PlanLimit",
    "Profile",
    "Project",
    "StripeEvent",
    "ThrottleCounter",
    "UsageMonthly",
    "UsageRecord",
]
