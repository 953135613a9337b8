"""The plan catalogue: the one source that limits, pricing, the pricing page and Stripe read."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

SECONDS_PER_HOUR = 3600
BYTES_PER_GB = 1_000_000_000


class PlanKey(StrEnum):
    """The plans' keys, as stored in `profiles.plan` and `plan_intervals.plan`."""

    FREE = "free"
    PRO = "pro"
    TEAM = "team"


@dataclass(frozen=True)
class Plan:
    """One plan. Prices are integer cents; overage unit prices are Decimal cents."""

    key: PlanKey
    name: str
    monthly_price_cents: int
    compute_hours: int
    storage_gb: int
    # None means unlimited.
    max_projects: int | None
    # A paid plan: a monthly fee, and usage past the included amounts billed as overage
    # rather than capped.
    is_paid: bool
    tagline: str

    @property
    def compute_seconds(self) -> int:
        return self.compute_hours * SECONDS_PER_HOUR

    @property
    def stripe_lookup_key(self) -> str:
        return f"aether_{self.key}_monthly"


# Overage for Pro and Team: $0.10 per compute hour, $0.50 per GB-month.
COMPUTE_OVERAGE_CENTS_PER_HOUR = Decimal(10)
STORAGE_OVERAGE_CENTS_PER_GB_MONTH = Decimal(50)

FREE = Plan(PlanKey.FREE, "Free", 0, 50, 1, 3, False, "For trying aether and side projects.")
PRO = Plan(PlanKey.PRO, "Pro", 2000, 200, 10, 20, True, "For developers who build every day.")
TEAM = Plan(PlanKey.TEAM, "Team", 5000, 500, 50, None, True, "For teams that need room to grow.")

PLANS: dict[str, Plan] = {p.key: p for p in (FREE, PRO, TEAM)}
PAID_PLANS = tuple(p for p in (FREE, PRO, TEAM) if p.is_paid)
PAID_PLAN_KEYS = tuple(p.key for p in PAID_PLANS)


def get_plan(key: str | None) -> Plan:
    """The plan for a key; anything unknown is treated as Free (never grants more)."""
    return PLANS.get(key or PlanKey.FREE, FREE)
