from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from aether_web.billing.money import format_cents
from aether_web.billing.plans import FREE, PRO, TEAM
from aether_web.billing.pricing import (
    COMPUTE_UNIT_SECONDS,
    OverageCharge,
    overage_for_month,
)

HOUR = 3600
# January: 744 hours, so a GB-month is 744 GB-hours and one storage cent 14.88 GB-hours.
JAN = date(2026, 1, 1)
STORAGE_UNIT_GB_HOURS = Decimal("14.88")


def test_free_never_pays_overage():
    charge = overage_for_month(FREE, month=JAN, compute_seconds=500 * HOUR, storage_gb_hours=Decimal(99999))
    assert charge.total_cents == 0
    assert charge.explanation() == ""


def test_pro_two_hours_over_costs_twenty_cents():
    charge = overage_for_month(PRO, month=JAN, compute_seconds=202 * HOUR, storage_gb_hours=Decimal(0))
    assert charge.compute_overage_seconds == 2 * HOUR
    assert charge.compute_units == 20
    assert charge.total_cents == 20
    assert format_cents(charge.total_cents) == "$0.20"
    assert charge.explanation() == "2 h overage"


def test_within_plan_costs_nothing():
    charge = overage_for_month(TEAM, month=JAN, compute_seconds=500 * HOUR,
                               storage_gb_hours=Decimal(50 * 744))
    assert charge == OverageCharge(0, 0, Decimal(0), 0)


def test_partial_cent_is_rounded_down():
    charge = overage_for_month(PRO, month=JAN, compute_seconds=200 * HOUR + COMPUTE_UNIT_SECONDS - 1,
                               storage_gb_hours=Decimal(0))
    assert charge.compute_cents == 0
    charge = overage_for_month(PRO, month=JAN, compute_seconds=200 * HOUR + COMPUTE_UNIT_SECONDS,
                               storage_gb_hours=Decimal(0))
    assert charge.compute_cents == 1


def test_storage_overage_three_gb_months_costs_a_dollar_fifty():
    charge = overage_for_month(PRO, month=JAN, compute_seconds=0,
                               storage_gb_hours=Decimal(13 * 744))
    assert charge.storage_overage_gb_hours == Decimal(3 * 744)
    assert charge.storage_cents == 150
    assert charge.explanation() == "3 GB-month storage overage"


def test_compute_and_storage_explained_together():
    charge = overage_for_month(PRO, month=JAN, compute_seconds=int(202.5 * HOUR),
                               storage_gb_hours=Decimal(13 * 744))
    assert charge.explanation() == "2.5 h compute + 3 GB-month storage overage"
    assert charge.total_cents == 25 + 150


def test_format_cents():
    assert format_cents(0) == "$0.00"
    assert format_cents(5) == "$0.05"
    assert format_cents(123456) == "$1,234.56"


@given(st.integers(min_value=0, max_value=10**8),
       st.decimals(min_value=0, max_value=10**6, places=4))
def test_charge_never_exceeds_the_exact_price(seconds, gb_hours):
    charge = overage_for_month(TEAM, month=JAN, compute_seconds=seconds, storage_gb_hours=gb_hours)
    exact_compute = Decimal(charge.compute_overage_seconds) / COMPUTE_UNIT_SECONDS
    exact_storage = charge.storage_overage_gb_hours / STORAGE_UNIT_GB_HOURS
    assert charge.compute_cents <= exact_compute < charge.compute_cents + 1
    assert charge.storage_cents <= exact_storage < charge.storage_cents + 1
    assert charge.total_cents >= 0
