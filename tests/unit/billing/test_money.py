"""Formatting for people: always floored, never showing more than was used."""

from decimal import Decimal

from aether_web.billing.money import (
    format_cents,
    format_duration,
    format_gb,
    format_gb_hours,
    format_gb_months,
    format_hours,
)


def test_hours_are_floored_the_same_everywhere():
    assert format_hours(200 * 3600 + 29 * 60 + 59) == "200.49 h"  # never 200.50
    assert format_hours(45 * 60 + 59) == "45 min"
    assert format_hours(30) == "30 s"
    assert format_hours(3600) == "1 h"


def test_exact_durations_for_explanations():
    assert format_duration(77 * 3600 + 25 * 60 + 10) == "77 h 25 m 10 s"
    assert format_duration(2700) == "45 m"
    assert format_duration(0) == "0 s"


def test_cents_sizes_and_gb_months():
    assert format_cents(-1000) == "-$10.00" and format_cents(123456) == "$1,234.56"
    assert format_gb(10 * 10**9) == "10 GB" and format_gb(1_499_999_999) == "1.49 GB"
    assert format_gb_hours(Decimal("7440.0000")) == "7,440 GB-hours"
    assert format_gb_months(Decimal(7440), 744) == "10"  # January: not "10.19"
    assert format_gb_months(Decimal(6720), 672) == "10"  # February
