"""UTC calendar months and splitting a run into the seconds each month holds. No I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware UTC value")
    return moment.astimezone(UTC)


def month_of(moment: datetime) -> date:
    """The month (as its first day) that a moment falls in, in UTC."""
    moment = _utc(moment)
    return date(moment.year, moment.month, 1)


def month_start(month: date | datetime) -> datetime:
    """The first instant of a UTC month, given the month or any moment inside it."""
    if isinstance(month, datetime):
        month = month_of(month)
    return _first_instant(month.year, month.month)


@lru_cache(maxsize=256)
def _first_instant(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)


def next_month(month: date) -> date:
    """The first day of the month after `month`."""
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def previous_month(month: date) -> date:
    """The first day of the month before `month`."""
    return date(month.year - (month.month == 1), (month.month - 2) % 12 + 1, 1)


def month_end(month: date | datetime) -> datetime:
    """The first instant AFTER a UTC month (the exclusive end of [start, end))."""
    if isinstance(month, datetime):
        month = month_of(month)
    return _first_instant_after(month.year, month.month)


@lru_cache(maxsize=256)
def _first_instant_after(year: int, month: int) -> datetime:
    return _first_instant(year + month // 12, month % 12 + 1)


def month_last_second(month: date | datetime) -> datetime:
    """The month's last whole second, as the API shows a period's end (…-31T23:59:59Z)."""
    return month_end(month) - timedelta(seconds=1)


def month_key(month: date) -> str:
    """"2024-01" for January 2024."""
    return f"{month.year:04d}-{month.month:02d}"


def split_seconds_by_month(start: datetime, end: datetime) -> dict[date, int]:
    """Whole seconds of the half-open interval [start, end) inside each UTC month.

    Sub-second parts are dropped at both ends (never in our favour). An empty or inverted
    interval gives {}; the values always add up to the interval's whole seconds.
    """
    start, end = _utc(start).replace(microsecond=0), _utc(end).replace(microsecond=0)
    out: dict[date, int] = {}
    cursor = start
    while cursor < end:
        month = month_of(cursor)
        boundary = min(month_end(month), end)
        seconds = int((boundary - cursor).total_seconds())
        if seconds > 0:
            out[month] = out.get(month, 0) + seconds
        cursor = boundary
    return out


def seconds_in_month(start: datetime, end: datetime, month: date) -> int:
    """Whole seconds of [start, end) that fall inside `month`."""
    return split_seconds_by_month(start, end).get(month, 0)
