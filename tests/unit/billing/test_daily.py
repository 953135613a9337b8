"""Runs split into UTC days for the daily compute chart."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from aether_web.billing.daily import daily_compute_seconds, days_of_month, split_seconds_by_day
from aether_web.billing.periods import split_seconds_by_month


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_run_across_midnight_counts_in_both_days():
    split = split_seconds_by_day(at(2026, 3, 1, 23, 30), at(2026, 3, 2, 0, 45))
    assert split == {date(2026, 3, 1): 1800, date(2026, 3, 2): 2700}


def test_a_run_across_several_days_fills_the_middle_days():
    split = split_seconds_by_day(at(2026, 3, 1, 12), at(2026, 3, 4, 6))
    assert split == {date(2026, 3, 1): 43200, date(2026, 3, 2): 86400,
                     date(2026, 3, 3): 86400, date(2026, 3, 4): 21600}


def test_empty_inverted_and_subsecond_intervals():
    assert split_seconds_by_day(at(2026, 3, 1), at(2026, 3, 1)) == {}
    assert split_seconds_by_day(at(2026, 3, 2), at(2026, 3, 1)) == {}
    start = at(2026, 3, 1, 10).replace(microsecond=900_000)
    assert split_seconds_by_day(start, start + timedelta(milliseconds=50)) == {}


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        split_seconds_by_day(datetime(2026, 3, 1), at(2026, 3, 2))


def test_days_of_month_handles_leap_years():
    assert len(days_of_month(date(2028, 2, 1))) == 29
    assert len(days_of_month(date(2026, 2, 1))) == 28
    assert days_of_month(date(2026, 12, 1))[-1] == date(2026, 12, 31)


def test_daily_series_clips_to_the_month_and_counts_open_runs_to_now():
    now = at(2026, 3, 10, 12)
    runs = [
        (at(2026, 2, 28, 23), at(2026, 3, 1, 1)),  # one hour in February, one in March
        (at(2026, 3, 5, 8), at(2026, 3, 5, 10)),
        (at(2026, 3, 10, 11), None),  # open: counts up to now
    ]
    series = daily_compute_seconds(runs, month=date(2026, 3, 1), now=now)
    assert len(series) == 31
    assert series[date(2026, 3, 1)] == 3600
    assert series[date(2026, 3, 5)] == 7200
    assert series[date(2026, 3, 10)] == 3600
    assert series[date(2026, 3, 11)] == 0
    assert sum(series.values()) == 3600 + 7200 + 3600


def test_days_add_up_to_the_month_split_for_random_runs():
    rng = random.Random(5)
    month = date(2026, 3, 1)
    base = at(2026, 2, 25)
    runs = []
    for _ in range(300):
        start = base + timedelta(seconds=rng.randrange(0, 40 * 86400))
        runs.append((start, start + timedelta(seconds=rng.randrange(0, 5 * 86400))))
    now = at(2026, 4, 20)
    series = daily_compute_seconds(runs, month=month, now=now)
    expected = sum(split_seconds_by_month(s, e).get(month, 0) for s, e in runs)
    assert sum(series.values()) == expected


def test_each_day_equals_splitting_each_run_by_day():
    rng = random.Random(11)
    month = date(2026, 3, 1)
    runs = []
    for _ in range(200):
        start = at(2026, 2, 27) + timedelta(seconds=rng.randrange(0, 36 * 86400),
                                            microseconds=rng.randrange(0, 1_000_000))
        runs.append((start, start + timedelta(seconds=rng.randrange(0, 3 * 86400))))
    now = at(2026, 3, 20, 7, 30)
    expected = dict.fromkeys(days_of_month(month), 0)
    for start, end in runs:
        for day, seconds in split_seconds_by_day(max(start, at(2026, 3, 1)),
                                                 min(end, now)).items():
            expected[day] += seconds
    assert daily_compute_seconds(runs, month=month, now=now) == expected
