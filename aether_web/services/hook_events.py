"""What every usage hook shares: the project it names, the billed clock, and its `event_id`.

Each hook locks its project row first (`find_project(..., lock=True)`), so hooks for one
project apply one at a time, and remembers its `event_id` with the answer it gave, so a repeat
returns that answer and changes nothing (policy rule 15). `event_id`s are unique per project:
project B reusing A's id is a different event.

Every billed instant is database time (`billed_now`); tests pass `now` to drive the clock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.db import db_now
from aether_web.errors import InvalidInput, NotFound
from aether_web.models import HookEvent, Project

# The outcome of a hook that names a deleted project (it changes nothing).
PROJECT_DELETED = "project_deleted"


@dataclass(frozen=True)
class HookAnswer:
    """What a hook answers: the HTTP status, the JSON body, and whether it was a repeat."""

    status: int
    body: dict[str, Any]
    repeat: bool = False


def billed_now(session: Session, now: datetime | None) -> datetime:
    """The instant a hook or job bills at: `now` when a test drives the clock, else database
    time, to the second."""
    return (now or db_now(session)).replace(microsecond=0)


def parse_project_id(value: Any) -> uuid.UUID:
    """A project id from a hook body, or InvalidInput."""
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidInput("project_id must be a project's UUID.",
                           code="invalid_project_id") from exc


def find_project(session: Session, project_id: Any, *, lock: bool) -> Project:
    """The project a hook names (its row locked for update when `lock`), or NotFound."""
    pid = parse_project_id(project_id)
    query = select(Project).where(Project.id == pid)
    if lock:
        query = query.with_for_update()
    project = session.exec(query).first()
    if project is None:
        raise NotFound("No project has this id.", code="project_not_found")
    return project


def earlier_answer(session: Session, project_id: uuid.UUID, event_id: str) -> HookAnswer | None:
    """The answer already given to this project's `event_id`, marked as a repeat; None for a
    new event."""
    seen = session.get(HookEvent, (project_id, event_id))
    if seen is None:
        return None
    return HookAnswer(seen.status_code, dict(seen.response), repeat=True)


def remember_answer(
    session: Session, *, event_id: str, kind: str, project: Project, machine_id: str,
    outcome: str, at: datetime, body: dict[str, Any],
) -> HookAnswer:
    """Record the hook's event with its answer (200, `body`), so a repeat returns it."""
    session.add(HookEvent(event_id=event_id, kind=kind, project_id=project.id,
                          machine_id=machine_id, outcome=outcome, received_at=at,
                          status_code=200, response=body))
    session.flush()
    return HookAnswer(200, body)


def purge_hook_events(session: Session, *, now: datetime | None = None,
                      keep: timedelta = timedelta(days=30)) -> int:
    """Forget hook answers older than `keep` (repeats are expected within hours)."""
    now = billed_now(session, now)
    return session.execute(
        sa.delete(HookEvent).where(HookEvent.received_at < now - keep)).rowcount
