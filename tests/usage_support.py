"""Usage planted straight into the database by tests that need a month already used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aether_web.models import Run


def add_month_runs(session, *, user_id, project_id, seconds: int) -> datetime:
    """Closed runs of `project_id` adding up to `seconds` in this UTC month, all before now
    (the Free cap and billing count runs, not the usage_monthly cache). Returns the month's
    start. The session is left to commit."""
    now = datetime.now(UTC).replace(microsecond=0)
    month = datetime(now.year, now.month, 1, tzinfo=UTC)
    step = max(1, int((now - month).total_seconds()) - 5)
    left = seconds
    while left > 0:
        length = min(step, left)
        session.add(Run(project_id=project_id, user_id=user_id, machine_id="old",
                                started_at=month, ended_at=month + timedelta(seconds=length),
                                duration_seconds=length, end_reason="user_stopped"))
        left -= length
    return month
