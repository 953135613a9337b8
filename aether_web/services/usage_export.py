"""The signed-in user's usage as CSV: every run, or the monthly totals."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.billing.periods import month_end, month_key, month_start
from aether_web.errors import InvalidInput
from aether_web.models import Project, Run
from aether_web.services.usage_summary import usage_summary

RUN_COLUMNS = ["project", "project_id", "started_at", "ended_at", "duration_seconds",
               "end_reason"]
MONTH_COLUMNS = ["month", "compute_hours", "storage_gb_month", "overage_cents", "overage"]
CHUNK = 2000


def parse_month(value: str | None) -> date | None:
    """ "2026-03" -> date(2026, 3, 1); None or "" -> None; anything else is InvalidInput."""
    if not value:
        return None
    try:
        year, month = (int(part) for part in value.split("-"))
        return date(year, month, 1)
    except ValueError as exc:
        raise InvalidInput("month must look like 2026-03.", code="invalid_month") from exc


def _cell(value: object) -> str:
    """Text a spreadsheet shows as text: a leading = + - @ would start a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _iso(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def _lines(rows: Iterator[list[str]], header: list[str]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
        if buffer.tell() > 64_000:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def runs_csv(session: Session, *, user_id: uuid.UUID, month: date | None,
             now: datetime) -> str:
    """Every run of the user (in `month` when given, oldest first), deleted projects too:
    their usage stays on the bill. An open run has no end and counts up to `now`."""
    query = (select(Project.name, Run.project_id, Run.started_at,
                    Run.ended_at, Run.duration_seconds, Run.end_reason)
             .join(Project, Project.id == Run.project_id)
             .where(Run.user_id == user_id)
             .order_by(Run.started_at, Run.id))
    if month is not None:
        query = query.where(sa.or_(Run.ended_at.is_(None),
                                   Run.ended_at > month_start(month)),
                            Run.started_at < month_end(month))

    def rows() -> Iterator[list[str]]:
        for name, project_id, started, ended, seconds, reason in session.exec(
                query.execution_options(yield_per=CHUNK)):
            if seconds is None:
                seconds = max(0, int(((ended or now) - started).total_seconds()))
            yield [_cell(name), str(project_id), _iso(started), _iso(ended), str(seconds),
                   _cell(reason or ("running" if ended is None else ""))]

    return "".join(_lines(rows(), RUN_COLUMNS))


def months_csv(session: Session, *, user_id: uuid.UUID, now: datetime) -> str:
    """One line per month, newest first, with the same numbers as /billing's history."""
    summary = usage_summary(session, user_id=user_id, now=now)

    def rows() -> Iterator[list[str]]:
        for month in summary["history"]:
            yield [month["month"], f"{month['compute_hours']:.2f}",
                   f"{month['storage_gb']:.2f}", str(month["overage_cents"]),
                   month["overage_display"]]

    return "".join(_lines(rows(), MONTH_COLUMNS))


def export_filename(kind: str, month: date | None, now: datetime) -> str:
    """ "aether-runs-2026-03.csv", "aether-months-2026-03-02.csv"."""
    suffix = month_key(month) if month else now.strftime("%Y-%m-%d")
    return f"aether-{kind}-{suffix}.csv"
