"""Plan intervals: which plan a user held when, and what a UTC month holds of them. No I/O.

An interval is half-open, [start, end); `end` None means "still held". Times are whole
seconds (sub-second parts dropped), so interval lengths and the seconds of usage inside them
are exact integers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import pairwise

from aether_web.billing.periods import month_end, month_start
from aether_web.billing.plans import Plan, get_plan

# A user with no recorded history holds their current plan "since always".
HISTORY_START = datetime(1970, 1, 1, tzinfo=UTC)

CAUSES = ("signup", "checkout", "switch", "cancellation", "grace_expiry", "support",
          "subscription", "backfill")


def whole_second(moment: datetime) -> datetime:
    """An aware UTC moment with its sub-second part dropped."""
    if moment.tzinfo is UTC and not moment.microsecond:
        return moment
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware UTC value")
    return moment.astimezone(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class PlanInterval:
    """One plan held over [start, end) (end None: held until further notice)."""

    plan: str
    start: datetime
    end: datetime | None = None
    cause: str = ""

    @property
    def plan_info(self) -> Plan:
        return get_plan(self.plan)

    @property
    def paid(self) -> bool:
        """Whether the plan has an allowance and overage (Pro, Team); Free never pays."""
        return self.plan_info.is_paid

    @property
    def seconds(self) -> int:
        """Whole seconds of a closed interval (ValueError for an open one)."""
        if self.end is None:
            raise ValueError("an open interval has no length")
        return max(0, int((self.end - self.start).total_seconds()))


def normalized(intervals: Iterable[PlanInterval]) -> list[PlanInterval]:
    """Intervals sorted by start with whole-second edges."""
    out = []
    for iv in intervals:
        start = whole_second(iv.start)
        end = None if iv.end is None else whole_second(iv.end)
        out.append(iv if (start, end) == (iv.start, iv.end)
                   else PlanInterval(iv.plan, start, end, iv.cause))
    return sorted(out, key=lambda iv: iv.start)


def check_history(intervals: Iterable[PlanInterval]) -> None:
    """Raise ValueError unless the intervals follow each other with no overlap and no gap, and
    only the last may be open."""
    items = normalized(intervals)
    for before, after in pairwise(items):
        if before.end is None:
            raise ValueError(f"interval from {before.start} is open but another follows it")
        if before.end != after.start:
            kind = "overlap" if before.end > after.start else "gap"
            raise ValueError(f"{kind} between {before.end} and {after.start}")
    for iv in items:
        if iv.end is not None and iv.end < iv.start:
            raise ValueError(f"interval from {iv.start} ends before it starts")


def clamp(intervals: Iterable[PlanInterval], start: datetime,
          end: datetime) -> tuple[PlanInterval, ...]:
    """The parts of the intervals inside [start, end), open ends closed at `end`; empty parts
    are left out."""
    out = []
    for iv in normalized(intervals):
        lo = max(iv.start, start)
        hi = end if iv.end is None else min(iv.end, end)
        if hi > lo:
            out.append(iv if (lo, hi) == (iv.start, iv.end)
                       else PlanInterval(iv.plan, lo, hi, iv.cause))
    return tuple(out)


def clamp_to_month(intervals: Iterable[PlanInterval], month: date) -> tuple[PlanInterval, ...]:
    """The intervals inside a UTC month (open intervals run to the month's end)."""
    return clamp(intervals, month_start(month), month_end(month))


def paid_intervals(intervals: Iterable[PlanInterval]) -> tuple[PlanInterval, ...]:
    """The intervals on a plan with an allowance (Pro, Team)."""
    return tuple(iv for iv in intervals if iv.paid)


def plan_at(intervals: Iterable[PlanInterval], moment: datetime) -> str | None:
    """The plan held at `moment`, or None when no interval covers it."""
    moment = whole_second(moment)
    for iv in normalized(intervals):
        if iv.start <= moment and (iv.end is None or moment < iv.end):
            return iv.plan
    return None


def overlap_seconds(start: datetime, end: datetime,
                    intervals: Iterable[PlanInterval]) -> tuple[int, int]:
    """Whole seconds of [start, end) inside paid and inside free intervals: (paid, free).

    The intervals must be closed (clamp them first)."""
    start, end = whole_second(start), whole_second(end)
    paid = free = 0
    for iv in intervals:
        assert iv.end is not None, "clamp the intervals first"
        seconds = int((min(end, iv.end) - max(start, iv.start)).total_seconds())
        if seconds > 0:
            if iv.paid:
                paid += seconds
            else:
                free += seconds
    return paid, free
