"""A project's recent runs, for its page (its month's numbers come from the period bill)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from aether_web.models import Run

RECENT_RUNS = 10


@dataclass(frozen=True)
class RecentRun:
    """A run of the project's VM; `ended_at` is None while it is open."""

    started_at: datetime
    ended_at: datetime | None
    seconds: int
    end_reason: str | None


def recent_runs(session: Session, *, user_id: uuid.UUID, project_id: uuid.UUID,
                now: datetime, limit: int = RECENT_RUNS) -> list[RecentRun]:
    """The project's latest runs, newest first; an open run's length counts up to `now`. The
    caller has checked that the project is the user's; `user_id` keeps the read on the
    user's index."""
    latest = session.exec(
        select(Run).where(Run.user_id == user_id,
                                  Run.project_id == project_id)
        .order_by(Run.started_at.desc()).limit(limit)
    ).all()
    return [RecentRun(r.started_at, r.ended_at,
                r.duration_seconds if r.duration_seconds is not None
                else max(0, int((now - r.started_at).total_seconds())),
                r.end_reason) for r in latest]
