"""Money, durations and sizes written for people. Formatting only: amounts arrive already
rounded by `pricing` (cents) or `allowance` (GB-hours). Everything shown is floored, never
rounded up into something the user did not use. No I/O."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from aether_web.billing.plans import BYTES_PER_GB, SECONDS_PER_HOUR


def format_cents(cents: int) -> str:
    """Dollars for people: 20 -> "$0.20", 123456 -> "$1,234.56", -1000 -> "-$10.00"."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(int(cents)), 100)
    return f"{sign}${dollars:,}.{rest:02d}"


def decimal_text(value: Decimal, places: int = 2) -> str:
    """At most `places` decimals, floored, without trailing zeros: 2, 2.5, 0.33, 1,234.5."""
    quantum = Decimal(1).scaleb(-places)
    floored = Decimal(value).quantize(quantum, rounding=ROUND_FLOOR)
    whole, _, frac = format(floored, "f").partition(".")
    sign = "-" if whole.startswith("-") else ""
    text = f"{sign}{int(whole.lstrip('-') or 0):,}"
    frac = frac.rstrip("0")
    return f"{text}.{frac}" if frac else text


def hours_value(seconds: int) -> Decimal:
    """Seconds as hours, floored to two decimals (200 h 29 m 59 s -> 200.49)."""
    return (Decimal(int(seconds)) / SECONDS_PER_HOUR).quantize(Decimal("0.01"),
                                                                rounding=ROUND_FLOOR)


def format_hours(seconds: int) -> str:
    """A duration for a meter: "200.49 h"; under an hour in minutes ("45 min"), under a
    minute in seconds ("30 s")."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < SECONDS_PER_HOUR:
        return f"{seconds // 60} min"
    return f"{decimal_text(hours_value(seconds))} h"


def format_duration(seconds: int) -> str:
    """An exact duration for an explanation: "77 h 25 m 10 s", "45 m", "0 s"."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, SECONDS_PER_HOUR)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours:,} h"] if hours else []
    if minutes:
        parts.append(f"{minutes} m")
    if secs or not parts:
        parts.append(f"{secs} s")
    return " ".join(parts)


def format_gb(storage_bytes: int) -> str:
    """Bytes as GB (10^9 bytes), floored to two decimals: "10 GB", "1.5 GB"."""
    return f"{decimal_text(Decimal(int(storage_bytes)) / BYTES_PER_GB)} GB"


def format_gb_hours(gb_hours: Decimal) -> str:
    """GB-hours, floored to two decimals: "7,440 GB-hours"."""
    return f"{decimal_text(Decimal(gb_hours))} GB-hours"


def format_gb_months(gb_hours: Decimal, month_hours: int) -> str:
    """GB-hours as GB-months of a month with `month_hours` hours: 7440 in January -> "10"."""
    return decimal_text(Decimal(gb_hours) / month_hours)
