"""What overage costs, in integer cents. Rounding happens here and only here, always down.

Stripe meters are priced at one cent per unit, so the invoice equals `total_cents` exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from aether_web.billing.plans import SECONDS_PER_HOUR, Plan

COMPUTE_UNIT_SECONDS = 360  # $0.10/h => one cent buys 360 s of compute overage
STORAGE_GB_HOURS_PER_GB_MONTH = 730  # a GB-month is 730 GB-hours
STORAGE_UNIT_GB_HOURS = Decimal("14.6")  # $0.50 per GB-month => one cent per 14.6 GB-hours


@dataclass(frozen=True)
class OverageCharge:
    """A month's overage: the amounts over the plan and the whole cents they cost."""

    compute_overage_seconds: int
    compute_units: int
    storage_overage_gb_hours: Decimal
    storage_units: int

    @property
    def compute_cents(self) -> int:
        return self.compute_units

    @property
    def storage_cents(self) -> int:
        return self.storage_units

    @property
    def total_cents(self) -> int:
        return self.compute_units + self.storage_units

    def explanation(self) -> str:
        """What was over the plan, e.g. "2 h overage" or "2.5 h compute + 3 GB-month storage
        overage"; "" when nothing was."""
        parts = []
        if self.compute_overage_seconds > 0:
            parts.append(f"{_number(Decimal(self.compute_overage_seconds) / SECONDS_PER_HOUR)} h")
        if self.storage_overage_gb_hours > 0:
            gb_months = self.storage_overage_gb_hours / STORAGE_GB_HOURS_PER_GB_MONTH
            parts.append(f"{_number(gb_months)} GB-month")
        if not parts:
            return ""
        if len(parts) == 1 and self.compute_overage_seconds > 0:
            return f"{parts[0]} overage"
        if len(parts) == 1:
            return f"{parts[0]} storage overage"
        return f"{parts[0]} compute + {parts[1]} storage overage"


NO_OVERAGE = OverageCharge(0, 0, Decimal(0), 0)


def _number(value: Decimal) -> str:
    """At most two decimals, floored, without trailing zeros: 2, 2.5, 0.33."""
    floored = value.quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
    text = format(floored, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def overage_for_month(
    plan: Plan, *, compute_seconds: int, storage_gb_hours: Decimal
) -> OverageCharge:
    """The overage of one month on `plan`.

    Free has hard caps and never pays overage. Pro and Team pay for compute over the plan's
    hours and storage over `plan.storage_gb` GB-months (730 GB-hours each), in whole cents,
    rounded down.
    """
    if not plan.overage:
        return NO_OVERAGE
    compute_over = max(0, int(compute_seconds) - plan.compute_seconds)
    included_gb_hours = Decimal(plan.storage_gb * STORAGE_GB_HOURS_PER_GB_MONTH)
    storage_over = max(Decimal(0), Decimal(storage_gb_hours) - included_gb_hours)
    storage_units = int((storage_over / STORAGE_UNIT_GB_HOURS).to_integral_value(ROUND_FLOOR))
    return OverageCharge(
        compute_overage_seconds=compute_over,
        compute_units=compute_over // COMPUTE_UNIT_SECONDS,
        storage_overage_gb_hours=storage_over,
        storage_units=storage_units,
    )


def format_cents(cents: int) -> str:
    """Dollars for people: 20 -> "$0.20", 123456 -> "$1,234.56"."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(int(cents)), 100)
    return f"{sign}${dollars:,}.{rest:02d}"
