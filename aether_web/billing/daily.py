"""Splitting runs into the seconds each UTC day holds, for the daily compute chart. No I/O."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from aether_web.billing.periods import month_end, month_start

DAY = 86_400


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware UTC value")
    return moment.astimezone(UTC).replace(microsecond=0)


def _day_start(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def split_seconds_by_day(start: datetime, end: datetime) -> dict[date, int]:
    """Whole seconds of the half-open interval [start, end) inside each UTC day.

    Sub-second parts are dropped at both ends, as for months, so the days of a month add up
    to exactly what `periods.split_seconds_by_month` gives that month.
    """
    start, end = _utc(start), _utc(end)
    out: dict[date, int] = {}
    cursor = start
    while cursor < end:
        boundary = min(_day_start(cursor) + timedelta(days=1), end)
        seconds = int((boundary - cursor).total_seconds())
        if seconds > 0:
            day = cursor.date()
            out[day] = out.get(day, 0) + seconds
        cursor = boundary
    return out


def days_of_month(month: date) -> list[date]:
    """Every day of the UTC month that `month` is the first day of."""
    first = month_start(month).date()
    count = (month_end(month) - month_start(month)).days
    return [first + timedelta(days=i) for i in range(count)]


def daily_compute_seconds(
    runs: Iterable[tuple[datetime, datetime | None]], *, month: date, now: datetime
) -> dict[date, int]:
    """Compute seconds per day of `month` for runs given as (started_at, ended_at or None for
    a run still open, counted up to `now`). Every day of the month is present, 0 when idle;
    days after `now` stay 0.

    Works in whole epoch seconds (UTC days are exactly 86,400 of them), which keeps a month
    of ten thousand runs cheap; the result equals splitting each run with
    `split_seconds_by_day`.
    """
    lo = int(month_start(month).timestamp())
    hi = min(int(month_end(month).timestamp()), int(_utc(now).timestamp()))
    days = days_of_month(month)
    first_day = lo // DAY
    totals = [0] * len(days)
    for started, ended in runs:
        if started.tzinfo is None or (ended is not None and ended.tzinfo is None):
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC value")
        begin = max(int(started.timestamp()), lo)
        finish = min(int(ended.timestamp()) if ended is not None else hi, hi)
        while begin < finish:
            boundary = min((begin // DAY + 1) * DAY, finish)
            totals[begin // DAY - first_day] += boundary - begin
            begin = boundary
    return dict(zip(days, totals, strict=True))
