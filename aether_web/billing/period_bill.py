"""One period's bill: the plan intervals of a UTC month, what they include, the usage counted
against them, the overage and how it splits over projects, with its explanation
(`billing.bill_lines`). No I/O.

`build_period_bill` takes usage already aggregated per project (the database does that for
every user at once, `services.period_bill`); `usage_from_records` computes the same aggregate
from raw runs and storage samples (one user, and the reference the SQL is tested against).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from functools import cached_property, lru_cache

from aether_web.billing.allowance import (
    QUANTA_PER_GB_HOUR,
    included_compute_seconds,
    included_storage_gb_hours,
    month_hours,
    stored_gb_hours,
)
from aether_web.billing.bill_lines import explain
from aether_web.billing.periods import month_end, month_start
from aether_web.billing.plan_history import (
    PlanInterval,
    clamp,
    clamp_to_month,
    overlap_seconds,
    whole_second,
)
from aether_web.billing.pricing import OverageCharge, price_overage
from aether_web.billing.shares import split_largest_remainder


@dataclass(frozen=True)
class ProjectUsage:
    """A project's usage in one period, split by the intervals it fell in (the input)."""

    project_id: uuid.UUID
    name: str = ""
    paid_compute_seconds: int = 0
    free_compute_seconds: int = 0
    # Bytes x seconds held inside paid intervals: exact, GB-hours = this / 3.6e12.
    paid_storage_byte_seconds: int = 0


@dataclass(frozen=True)
class ProjectBill:
    """A project's line of a period's bill; shares add up to the bill's totals."""

    project_id: uuid.UUID
    name: str
    compute_seconds: int  # counted (inside paid intervals)
    free_compute_seconds: int  # used on Free, never counted against a paid allowance
    storage_gb_hours: Decimal  # counted, rounded down; the shares add up to the total
    compute_cents: int
    storage_cents: int

    @property
    def total_cents(self) -> int:
        return self.compute_cents + self.storage_cents


@dataclass(frozen=True)
class PeriodBill:
    """Everything a display, an email or the month end needs about one user's UTC month."""

    user_id: uuid.UUID
    month: date
    as_of: datetime  # usage counted up to here (the month's end once it is over)
    intervals: tuple[PlanInterval, ...]  # clamped to the month
    included_compute_seconds: int
    included_storage_gb_hours: Decimal
    counted_compute_seconds: int
    counted_storage_gb_hours: Decimal
    free_compute_seconds: int
    overage: OverageCharge
    usage: tuple[ProjectUsage, ...] = ()  # the projects with any usage (the lines' input)

    @cached_property
    def projects(self) -> tuple[ProjectBill, ...]:
        """Each project's line, its shares adding up to the totals (computed when first read:
        the month end reads only the totals)."""
        return _project_lines(self.usage, self.overage, self.counted_storage_gb_hours)

    @cached_property
    def explanation(self) -> tuple[str, ...]:
        """The bill in sentences a user can check by hand (rule 17)."""
        return explain(self)

    @property
    def month_hours(self) -> int:
        return month_hours(self.month)

    @property
    def is_open(self) -> bool:
        """Whether the month is still running (usage may grow)."""
        return self.as_of < month_end(self.month)

    @property
    def paid(self) -> bool:
        """Whether any part of the month was on a paid plan."""
        return any(iv.paid for iv in self.intervals)

    @property
    def plan(self) -> str:
        """The plan the month ends on (or holds now, for the open month)."""
        for iv in self.intervals:
            if iv.start <= self.as_of < (iv.end or self.as_of):
                return iv.plan
        return self.intervals[-1].plan if self.intervals else "free"

    @property
    def compute_overage_seconds(self) -> int:
        return self.overage.compute_overage_seconds

    @property
    def storage_overage_gb_hours(self) -> Decimal:
        return self.overage.storage_overage_gb_hours

    @property
    def compute_units(self) -> int:
        return self.overage.compute_units

    @property
    def storage_units(self) -> int:
        return self.overage.storage_units

    @property
    def compute_cents(self) -> int:
        return self.overage.compute_cents

    @property
    def storage_cents(self) -> int:
        return self.overage.storage_cents

    @property
    def total_cents(self) -> int:
        return self.overage.total_cents

    @property
    def used_compute_seconds(self) -> int:
        """All compute of the month, on any plan."""
        return self.counted_compute_seconds + self.free_compute_seconds


@lru_cache(maxsize=64)  # the same for every bill of one computation
def usage_end(month: date, now: datetime) -> datetime:
    """Usage of `month` counts up to the month's end, or up to `now` while it runs."""
    return max(month_start(month), min(month_end(month), whole_second(now)))


def build_period_bill(
    *, user_id: uuid.UUID, month: date, intervals: Iterable[PlanInterval],
    usage: Iterable[ProjectUsage], now: datetime,
) -> PeriodBill:
    """Price one user's month from their plan intervals and per-project usage (rules 3-7).

    Included amounts use the intervals clamped to the whole month (an open interval runs to
    the month's end); counted usage is what `usage` says was inside paid intervals.
    """
    in_month = clamp_to_month(intervals, month)
    hours = month_hours(month)
    inc_compute = included_compute_seconds(in_month, month)
    inc_storage = included_storage_gb_hours(in_month)
    items = [u for u in usage if u.paid_compute_seconds or u.free_compute_seconds
             or u.paid_storage_byte_seconds]
    counted = sum(u.paid_compute_seconds for u in items)
    free = sum(u.free_compute_seconds for u in items)
    counted_storage = stored_gb_hours(sum(u.paid_storage_byte_seconds for u in items))
    charge = price_overage(
        paid=any(iv.paid for iv in in_month), month_hours=hours,
        included_compute_seconds=inc_compute, counted_compute_seconds=counted,
        included_storage_gb_hours=inc_storage, counted_storage_gb_hours=counted_storage)
    return PeriodBill(
        user_id=user_id, month=month, as_of=usage_end(month, now), intervals=in_month,
        included_compute_seconds=inc_compute, included_storage_gb_hours=inc_storage,
        counted_compute_seconds=counted, counted_storage_gb_hours=counted_storage,
        free_compute_seconds=free, overage=charge, usage=tuple(items))


def _project_lines(items: Sequence[ProjectUsage], charge: OverageCharge,
                   counted_storage: Decimal) -> tuple[ProjectBill, ...]:
    keys = [u.project_id for u in items]
    compute = split_largest_remainder(
        charge.compute_cents, {u.project_id: u.paid_compute_seconds for u in items}) \
        if items else {}
    storage = split_largest_remainder(
        charge.storage_cents, {u.project_id: u.paid_storage_byte_seconds for u in items}) \
        if items else {}
    quanta = split_largest_remainder(
        int(counted_storage * QUANTA_PER_GB_HOUR),
        {u.project_id: u.paid_storage_byte_seconds for u in items}) if items else {}
    lines = [ProjectBill(
        project_id=u.project_id, name=u.name, compute_seconds=u.paid_compute_seconds,
        free_compute_seconds=u.free_compute_seconds,
        storage_gb_hours=Decimal(quanta[u.project_id]).scaleb(-4),
        compute_cents=compute[u.project_id], storage_cents=storage[u.project_id])
        for u in items]
    assert len(keys) == len(set(keys)), "one usage row per project"
    return tuple(sorted(lines, key=lambda p: (-p.total_cents, -p.compute_seconds, p.name)))


# The same aggregate from raw records -------------------------------------------------------


@dataclass(frozen=True)
class RunSpan:
    """A VM run as recorded (ended_at None: still open)."""

    project_id: uuid.UUID
    started_at: datetime
    ended_at: datetime | None = None
    last_heartbeat_at: datetime | None = None


@dataclass(frozen=True)
class StorageSample:
    """A project's stored bytes from `at` until its next sample."""

    project_id: uuid.UUID
    at: datetime
    bytes_used: int


def last_sign_of_life(started_at: datetime, last_heartbeat_at: datetime | None) -> datetime:
    """A run's last sign of life: its last heartbeat, or its start (rule 13). The one home of
    the rule; `services.runs` applies it to stored runs and spells it in SQL."""
    return max(last_heartbeat_at or started_at, started_at)


def billed_run_end(run: RunSpan, *, now: datetime, timeout: timedelta) -> datetime:
    """Where a run's billing ends: its end; for an open run, now, unless it has been silent
    longer than `timeout` (then its last sign of life, rule 13)."""
    if run.ended_at is not None:
        return run.ended_at
    last = last_sign_of_life(run.started_at, run.last_heartbeat_at)
    return now if last >= now - timeout else last


def usage_from_records(
    *, month: date, intervals: Iterable[PlanInterval], runs: Iterable[RunSpan],
    samples: Iterable[StorageSample], now: datetime, timeout: timedelta,
    names: dict[uuid.UUID, str] | None = None,
    deleted: dict[uuid.UUID, datetime | None] | None = None,
) -> list[ProjectUsage]:
    """Per-project usage of `month` from raw runs and storage samples, split by interval.

    Runs are cut at the interval and month edges (and at `now`); storage is a step function
    (each sample holds until the next, the project's deletion, or `now`)."""
    now = whole_second(now)
    end = usage_end(month, now)
    spans = clamp(intervals, month_start(month), end)
    compute: dict[uuid.UUID, list[int]] = {}
    for run in runs:
        stop = min(billed_run_end(run, now=now, timeout=timeout), end)
        paid, free = overlap_seconds(max(run.started_at, month_start(month)),
                                     max(stop, month_start(month)), spans)
        acc = compute.setdefault(run.project_id, [0, 0])
        acc[0] += paid
        acc[1] += free
    storage: dict[uuid.UUID, int] = {}
    by_project: dict[uuid.UUID, list[StorageSample]] = {}
    for sample in samples:
        by_project.setdefault(sample.project_id, []).append(sample)
    for pid, items in by_project.items():
        items.sort(key=lambda s: s.at)
        gone = (deleted or {}).get(pid)
        for here, nxt in zip(items, [*items[1:], None], strict=False):
            stop = min(nxt.at if nxt else end, gone or end, end)
            if stop > here.at and here.bytes_used:
                paid, _ = overlap_seconds(here.at, stop, [iv for iv in spans if iv.paid])
                storage[pid] = storage.get(pid, 0) + here.bytes_used * paid
    out = []
    for pid in set(compute) | set(storage):
        paid, free = compute.get(pid, [0, 0])
        out.append(ProjectUsage(project_id=pid, name=(names or {}).get(pid, ""),
                                paid_compute_seconds=paid, free_compute_seconds=free,
                                paid_storage_byte_seconds=storage.get(pid, 0)))
    return out


__all__ = ["Fraction", "PeriodBill", "ProjectBill", "ProjectUsage", "RunSpan", "StorageSample",
           "billed_run_end", "build_period_bill", "last_sign_of_life", "usage_end",
           "usage_from_records"]
