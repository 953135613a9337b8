from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aether_web.billing.periods import (
    month_end,
    month_key,
    month_last_second,
    month_of,
    month_start,
    next_month,
    previous_month,
    split_seconds_by_month,
)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_month_bounds():
    moment = utc(2024, 2, 29, 23, 59, 59)
    assert month_of(moment) == date(2024, 2, 1)
    assert month_start(moment) == utc(2024, 2, 1)
    assert month_end(moment) == utc(2024, 3, 1)
    assert month_last_second(date(2024, 1, 1)) == utc(2024, 1, 31, 23, 59, 59)
    assert month_key(date(2024, 1, 1)) == "2024-01"


def test_month_of_uses_utc_not_local_offset():
    from datetime import timezone

    tokyo = timezone(timedelta(hours=9))
    # 08:00 on March 1st in Tokyo is still February in UTC.
    assert month_of(datetime(2024, 3, 1, 8, 0, tzinfo=tokyo)) == date(2024, 2, 1)


def test_next_and_previous_month_wrap_years():
    assert next_month(date(2023, 12, 1)) == date(2024, 1, 1)
    assert previous_month(date(2024, 1, 1)) == date(2023, 12, 1)
    assert previous_month(date(2024, 3, 1)) == date(2024, 2, 1)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        month_of(datetime(2024, 1, 1))


def test_run_inside_one_month():
    assert split_seconds_by_month(utc(2024, 1, 5, 10), utc(2024, 1, 5, 12)) == {
        date(2024, 1, 1): 7200
    }


def test_run_across_new_year_splits_at_midnight_utc():
    split = split_seconds_by_month(utc(2023, 12, 31, 23, 30), utc(2024, 1, 1, 0, 45))
    assert split == {date(2023, 12, 1): 1800, date(2024, 1, 1): 2700}


def test_run_spanning_three_months():
    split = split_seconds_by_month(utc(2024, 1, 31, 23), utc(2024, 3, 1, 1))
    assert split == {date(2024, 1, 1): 3600, date(2024, 2, 1): 29 * 86400,
                     date(2024, 3, 1): 3600}


def test_empty_and_inverted_runs_count_nothing():
    assert split_seconds_by_month(utc(2024, 1, 1), utc(2024, 1, 1)) == {}
    assert split_seconds_by_month(utc(2024, 1, 2), utc(2024, 1, 1)) == {}


def test_sub_second_parts_are_dropped():
    start = utc(2024, 1, 1, 0, 0, 0, 900_000)
    end = utc(2024, 1, 1, 0, 0, 10, 100_000)
    assert split_seconds_by_month(start, end) == {date(2024, 1, 1): 10}


moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1),
                       timezones=st.just(UTC))


@given(moments, st.integers(min_value=0, max_value=200 * 86400))
def test_split_adds_up_and_stays_in_months(start, length):
    start = start.replace(microsecond=0)
    end = start + timedelta(seconds=length)
    split = split_seconds_by_month(start, end)
    assert sum(split.values()) == length
    for month, seconds in split.items():
        assert 0 < seconds <= (month_end(month) - month_start(month)).total_seconds()
        assert month_start(month) < end and month_end(month) > start
