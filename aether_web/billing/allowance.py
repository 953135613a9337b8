"""What a period includes: compute seconds and storage GB-hours, prorated by plan interval.

Policy rules 3 and 4: included compute = the sum over the paid intervals of the plan's monthly
hours x (interval length / month length), added up exactly and rounded UP once per period to
the whole second; included storage = the sum over the paid intervals of the plan's GB x the
interval's hours, rounded UP once per period. A GB-month is 1 GB held for the whole of that
month (744 GB-hours in January, 672 in a 28-day February). No I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

from aether_web.billing.periods import month_end, month_start
from aether_web.billing.plan_history import PlanInterval
from aether_web.billing.plans import BYTES_PER_GB, SECONDS_PER_HOUR

# GB-hours are shown and stored to four decimals (0.0001 GB-hour = 0.36 GB-seconds).
QUANTA_PER_GB_HOUR = 10_000


@lru_cache(maxsize=256)
def month_seconds(month: date) -> int:
    """Seconds in a UTC month (2,678,400 for January, 2,419,200 for a 28-day February)."""
    return int((month_end(month) - month_start(month)).total_seconds())


def month_hours(month: date) -> int:
    """Hours in a UTC month: the GB-hours of one GB-month (744 in January)."""
    return month_seconds(month) // SECONDS_PER_HOUR


def included_compute_exact(intervals: Iterable[PlanInterval], month: date) -> Fraction:
    """The exact included compute seconds of the (month-clamped) intervals, before rounding."""
    length = month_seconds(month)
    total = Fraction(0)
    for iv in intervals:
        if iv.paid:
            total += Fraction(iv.plan_info.compute_seconds * iv.seconds, length)
    return total


def included_compute_seconds(intervals: Iterable[PlanInterval], month: date) -> int:
    """Included compute seconds of a period, rounded up once to the whole second (rule 3).

    `intervals` are already clamped to the month (`plan_history.clamp_to_month`). Integer
    arithmetic: the exact sum is (sum of plan seconds x interval seconds) / month seconds."""
    numerator = sum(iv.plan_info.compute_seconds * iv.seconds for iv in intervals if iv.paid)
    return -(-numerator // month_seconds(month))


def included_storage_exact(intervals: Iterable[PlanInterval]) -> Fraction:
    """The exact included GB-hours of the (month-clamped) intervals, before rounding."""
    total = Fraction(0)
    for iv in intervals:
        if iv.paid:
            total += Fraction(iv.plan_info.storage_gb * iv.seconds, SECONDS_PER_HOUR)
    return total


def included_storage_gb_hours(intervals: Iterable[PlanInterval]) -> Decimal:
    """Included GB-hours of a period, rounded up once to 0.0001 GB-hour (rule 4)."""
    gb_seconds = sum(iv.plan_info.storage_gb * iv.seconds for iv in intervals if iv.paid)
    return _quanta(-(-gb_seconds * QUANTA_PER_GB_HOUR // SECONDS_PER_HOUR))


def stored_gb_hours(byte_seconds: int) -> Decimal:
    """GB-hours of bytes held for seconds, rounded down to 0.0001 GB-hour (rule 4)."""
    return _quanta(int(byte_seconds) * QUANTA_PER_GB_HOUR // (BYTES_PER_GB * SECONDS_PER_HOUR))


def _quanta(count: int) -> Decimal:
    return Decimal(count).scaleb(-4)
