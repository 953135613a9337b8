"""Property tests of the period pricing rules (policy rules 3-7) over random plan histories,
runs and storage samples."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from aether_web.billing.allowance import (
    included_compute_exact,
    included_storage_exact,
    month_hours,
    month_seconds,
)
from aether_web.billing.period_bill import (
    ProjectUsage,
    RunSpan,
    StorageSample,
    build_period_bill,
    usage_from_records,
)
from aether_web.billing.periods import month_end, month_start
from aether_web.billing.plan_history import PlanInterval, check_history, clamp_to_month
from aether_web.billing.plans import BYTES_PER_GB, PLANS
from aether_web.billing.shares import split_largest_remainder

TIMEOUT = timedelta(minutes=15)
MONTHS = [date(2026, m, 1) for m in range(1, 13)] + [date(2028, 2, 1)]
P1, P2, P3 = (uuid.UUID(int=i) for i in (1, 2, 3))


@st.composite
def month_case(draw):
    """A month, a gap-free plan history covering it, runs and storage samples."""
    month = draw(st.sampled_from(MONTHS))
    start, length = month_start(month), month_seconds(month)
    cuts = sorted(set(draw(st.lists(st.integers(1, length - 1), max_size=5))))
    plans = draw(st.lists(st.sampled_from(list(PLANS)), min_size=len(cuts) + 1,
                          max_size=len(cuts) + 1))
    edges = [start - timedelta(days=3)] + [start + timedelta(seconds=c) for c in cuts] + [None]
    intervals = [PlanInterval(plan, edges[i], edges[i + 1]) for i, plan in enumerate(plans)]
    runs = []
    for _ in range(draw(st.integers(0, 6))):
        a = draw(st.integers(-86400, length + 86400))
        d = draw(st.integers(0, 400 * 3600))
        runs.append(RunSpan(draw(st.sampled_from([P1, P2, P3])),
                            start + timedelta(seconds=a), start + timedelta(seconds=a + d)))
    samples = [StorageSample(draw(st.sampled_from([P1, P2])),
                             start + timedelta(seconds=draw(st.integers(-86400, length))),
                             draw(st.integers(0, 80 * BYTES_PER_GB)))
               for _ in range(draw(st.integers(0, 5)))]
    return month, intervals, runs, samples


def _bill(month, intervals, runs, samples):
    now = month_end(month) + timedelta(days=1)
    usage = usage_from_records(month=month, intervals=intervals, runs=runs, samples=samples,
                               now=now, timeout=TIMEOUT)
    return build_period_bill(user_id=uuid.uuid4(), month=month, intervals=intervals,
                             usage=usage, now=now)


@settings(max_examples=200, deadline=None)
@given(month_case())
def test_totals_add_up(case):
    bill = _bill(*case)
    check_history(bill.intervals)
    assert bill.intervals[0].start == month_start(bill.month)
    assert bill.intervals[-1].end == month_end(bill.month)
    assert sum(p.compute_cents for p in bill.projects) == bill.compute_cents
    assert sum(p.storage_cents for p in bill.projects) == bill.storage_cents
    assert sum(p.total_cents for p in bill.projects) == bill.total_cents
    assert sum(p.compute_seconds for p in bill.projects) == bill.counted_compute_seconds
    assert sum(p.storage_gb_hours for p in bill.projects) == bill.counted_storage_gb_hours
    assert bill.total_cents == bill.compute_units + bill.storage_units
    # usage inside the month is exactly split between paid and free intervals
    month, _, runs, _ = case
    inside = sum(max(0, int((min(r.ended_at, month_end(month))
                             - max(r.started_at, month_start(month))).total_seconds()))
                 for r in runs)
    assert bill.counted_compute_seconds + bill.free_compute_seconds == inside


@settings(max_examples=200, deadline=None)
@given(month_case())
def test_rounding_never_favours_us(case):
    bill = _bill(*case)
    month = bill.month
    assert bill.included_compute_seconds >= included_compute_exact(bill.intervals, month)
    assert bill.included_compute_seconds - included_compute_exact(bill.intervals, month) < 1
    assert Fraction(bill.included_storage_gb_hours) >= included_storage_exact(bill.intervals)
    exact_compute = Fraction(max(0, bill.counted_compute_seconds
                                 - included_compute_exact(bill.intervals, month)), 360)
    assert bill.compute_cents <= exact_compute
    exact_storage = max(Fraction(0), Fraction(bill.counted_storage_gb_hours)
                        - included_storage_exact(bill.intervals)) * 50 / month_hours(month)
    assert bill.storage_cents <= exact_storage
    if not bill.paid:
        assert bill.total_cents == 0


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(MONTHS), st.sampled_from(["pro", "team"]),
       st.lists(st.integers(0, 600 * 3600), max_size=4))
def test_a_whole_month_on_one_plan_includes_exactly_the_plan(month, key, durations):
    plan = PLANS[key]
    intervals = [PlanInterval(key, month_start(month) - timedelta(days=40))]
    runs = [RunSpan(P1, month_start(month), month_start(month) + timedelta(seconds=d))
            for d in durations]
    bill = _bill(month, intervals, runs, [])
    assert bill.included_compute_seconds == plan.compute_hours * 3600
    assert bill.included_storage_gb_hours == plan.storage_gb * month_hours(month)
    over = max(0, min(sum(durations), sum(min(d, month_seconds(month)) for d in durations))
               - plan.compute_hours * 3600)
    assert bill.compute_cents == over // 360


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(MONTHS), st.sampled_from(["pro", "team"]))
def test_holding_exactly_the_included_storage_costs_nothing(month, key):
    plan = PLANS[key]
    intervals = [PlanInterval(key, month_start(month) - timedelta(days=40))]
    samples = [StorageSample(P1, month_start(month) - timedelta(days=2),
                             plan.storage_gb * BYTES_PER_GB)]
    bill = _bill(month, intervals, [], samples)
    assert bill.counted_storage_gb_hours == bill.included_storage_gb_hours
    assert bill.storage_cents == 0
    # one byte more all month is still under a cent; one GB more costs 50 cents exactly
    more = [StorageSample(P1, samples[0].at, (plan.storage_gb + 1) * BYTES_PER_GB)]
    assert _bill(month, intervals, [], more).storage_cents == 50


@settings(max_examples=200, deadline=None)
@given(month_case(), st.sampled_from(["pro", "team", "free"]),
       st.lists(st.integers(1, 31 * 86400 - 1), max_size=6))
def test_splitting_a_single_plan_history_never_changes_the_price(case, key, cuts):
    month, _, runs, samples = case
    start = month_start(month) - timedelta(days=3)
    whole = [PlanInterval(key, start)]
    inside = sorted({c for c in cuts if c < month_seconds(month)})
    edges = [start] + [month_start(month) + timedelta(seconds=c) for c in inside] + [None]
    pieces = [PlanInterval(key, edges[i], edges[i + 1]) for i in range(len(edges) - 1)]
    one, many = _bill(month, whole, runs, samples), _bill(month, pieces, runs, samples)
    assert many.total_cents == one.total_cents
    assert many.included_compute_seconds == one.included_compute_seconds
    assert many.included_storage_gb_hours == one.included_storage_gb_hours
    assert many.counted_compute_seconds == one.counted_compute_seconds
    assert many.counted_storage_gb_hours == one.counted_storage_gb_hours


@given(st.integers(0, 10_000), st.dictionaries(st.integers(0, 20), st.integers(0, 10**9),
                                                min_size=1, max_size=8))
def test_largest_remainder_shares_add_up_and_stay_within_one_unit(total, weights):
    shares = split_largest_remainder(total, weights)
    assert sum(shares.values()) == total
    whole = sum(weights.values())
    for key, weight in weights.items():
        exact = Fraction(total * weight, whole) if whole else Fraction(total, len(weights))
        assert math.floor(exact) <= shares[key] <= math.ceil(exact)


def test_the_policy_example_pro_from_the_20th_of_a_31_day_month():
    month = date(2026, 1, 1)
    bill = build_period_bill(
        user_id=uuid.uuid4(), month=month, now=datetime(2026, 3, 1, tzinfo=UTC),
        intervals=[PlanInterval("free", datetime(2025, 1, 1, tzinfo=UTC),
                                datetime(2026, 1, 20, tzinfo=UTC)),
                   PlanInterval("pro", datetime(2026, 1, 20, tzinfo=UTC))],
        usage=[ProjectUsage(P1, "api", paid_compute_seconds=80 * 3600,
                            free_compute_seconds=45 * 3600)])
    assert bill.included_compute_seconds == 77 * 3600 + 25 * 60 + 10  # 200 h x 12/31
    assert bill.included_storage_gb_hours == Decimal(10 * 12 * 24)
    # 80 h - 77 h 25 m 10 s = 2 h 34 m 50 s = 25 whole 6-minute units
    assert bill.compute_cents == 25
    assert bill.free_compute_seconds == 45 * 3600
    assert any("77 h 25 m 10 s" in line for line in bill.explanation)
    assert clamp_to_month(bill.intervals, month) == bill.intervals


def test_the_next_invoice_estimate_keeps_proration_credits():
    from aether_web.services.upcoming_invoice import UpcomingInvoice

    # A switch credited more than the next month's fee: Stripe previews a total of -$10.00
    # (amount due $0.00); the estimate stays a credit, plus the overage so far.
    preview = UpcomingInvoice(total_cents=-1000, amount_due_cents=0, metered_cents=0,
                              currency="usd", next_payment_at=None)
    assert preview.estimate_cents(0) == -1000
    assert preview.estimate_cents(300) == -700
