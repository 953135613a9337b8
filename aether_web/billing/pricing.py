"""What overage costs, in integer cents. Rounding of money happens here and only here.

Policy rule 7: compute overage = max(0, counted - included) at $0.10 per hour, storage overage
= max(0, counted GB-hours - included GB-hours) at $0.50 per GB-month of that month. Seconds are
whole, included amounts arrive rounded up (`allowance`), cents are rounded down. Stripe meters
are priced at one cent per unit, so the invoice equals `total_cents` exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_FLOOR, Decimal

from aether_web.billing.periods import month_end, month_start
from aether_web.billing.plans import (
    COMPUTE_OVERAGE_CENTS_PER_HOUR,
    SECONDS_PER_HOUR,
    STORAGE_OVERAGE_CENTS_PER_GB_MONTH,
    Plan,
)

# $0.10/h => one cent buys 360 s of compute overage
COMPUTE_UNIT_SECONDS = int(SECONDS_PER_HOUR / COMPUTE_OVERAGE_CENTS_PER_HOUR)


@dataclass(frozen=True)
class OverageCharge:
    """A month's overage: the amounts over the plan and the whole cents they cost."""

    compute_overage_seconds: int
    compute_units: int
    storage_overage_gb_hours: Decimal
    storage_units: int
    # Hours of the month priced (a GB-month is this many GB-hours: 744 in January).
    month_hours: int = 744

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
            gb_months = self.storage_overage_gb_hours / self.month_hours
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
    plan: Plan, *, month: date, compute_seconds: int, storage_gb_hours: Decimal
) -> OverageCharge:
    """The overage of a whole UTC `month` on one plan: its hours and its GB x the month's real
    hours are included (a period with several plans goes through `period_bill`)."""
    hours = int((month_end(month) - month_start(month)).total_seconds()) // SECONDS_PER_HOUR
    return price_overage(
        paid=plan.is_paid, month_hours=hours, included_compute_seconds=plan.compute_seconds,
        counted_compute_seconds=compute_seconds,
        included_storage_gb_hours=Decimal(plan.storage_gb * hours),
        counted_storage_gb_hours=storage_gb_hours)


def price_overage(
    *, paid: bool, month_hours: int, included_compute_seconds: int,
    counted_compute_seconds: int, included_storage_gb_hours: Decimal,
    counted_storage_gb_hours: Decimal,
) -> OverageCharge:
    """The overage of one period (rule 7), from amounts already prorated and rounded.

    `paid` is whether the period holds any paid interval: Free never pays. Compute: every whole
    6 minutes over the included seconds is one unit of one cent. Storage: the GB-hours over the
    included ones, at 50 cents per GB-month of `month_hours` GB-hours, rounded down.
    """
    if not paid:
        return replace(NO_OVERAGE, month_hours=month_hours)
    compute_over = max(0, int(counted_compute_seconds) - int(included_compute_seconds))
    storage_over = max(Decimal(0),
                       Decimal(counted_storage_gb_hours) - Decimal(included_storage_gb_hours))
    storage_units = int((storage_over * STORAGE_OVERAGE_CENTS_PER_GB_MONTH / month_hours)
                        .to_integral_value(ROUND_FLOOR))
    return OverageCharge(
        compute_overage_seconds=compute_over,
        compute_units=compute_over // COMPUTE_UNIT_SECONDS,
        storage_overage_gb_hours=storage_over,
        storage_units=storage_units,
        month_hours=month_hours,
    )


__all__ = ["COMPUTE_UNIT_SECONDS", "NO_OVERAGE", "OverageCharge",
           "overage_for_month", "price_overage"]
