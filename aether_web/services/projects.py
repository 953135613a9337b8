"""Projects: list, create within the plan's cap, rename and delete."""

from __future__ import annotations

import re
import unicodedata
import uuid

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.billing.limits import can_create_project
from aether_web.billing.plans import get_plan
from aether_web.db import db_now
from aether_web.errors import Conflict, InvalidInput, LimitReached, NotFound
from aether_web.models import Profile, Project
from aether_web.services.accounts import lock_profile

# Letters of any language (either case) and digits, then also spaces, dots, dashes and
# underscores: "my-app", "Café 2", "東京.api". The docs (getting-started.md) say the same.
NAME_RULE = ("letters (any language) and digits, plus spaces, dots, dashes and underscores, "
             "starting with a letter or digit; at most 64 characters")
MAX_NAME_LENGTH = 64
_NAME = re.compile(r"^[^\W_][\w .-]*$")


def validate_name(name: str) -> str:
    """A clean project name (trimmed, Unicode NFC), or InvalidInput explaining what's wrong."""
    name = unicodedata.normalize("NFC", (name or "").strip())
    if not name:
        raise InvalidInput("Give your project a name.", code="invalid_name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"Project names can be at most {MAX_NAME_LENGTH} characters "
                           f"(this one has {len(name)}).", code="invalid_name")
    if not _NAME.match(name):
        raise InvalidInput(f"Use {NAME_RULE}.", code="invalid_name")
    return name


def list_projects(session: Session, *, user_id: uuid.UUID) -> list[Project]:
    """The user's projects, oldest first."""
    return list(
        session.exec(
            select(Project)
            .where(Project.user_id == user_id, Project.deleted_at.is_(None))
            .order_by(Project.created_at, Project.name)
        ).all()
    )


def count_projects(session: Session, *, user_id: uuid.UUID) -> int:
    return session.exec(
        select(sa.func.count())
        .select_from(Project)
        .where(Project.user_id == user_id, Project.deleted_at.is_(None))
    ).one()


def get_project(session: Session, *, user_id: uuid.UUID, project_id: uuid.UUID | str) -> Project:
    """The user's own project; another user's or a deleted one is NotFound."""
    try:
        pid = project_id if isinstance(project_id, uuid.UUID) else uuid.UUID(str(project_id))
    except ValueError as exc:
        raise NotFound("We couldn't find that project.", code="project_not_found") from exc
    project = session.get(Project, pid)
    if project is None or project.user_id != user_id or project.deleted_at is not None:
        raise NotFound("We couldn't find that project.", code="project_not_found")
    return project


def _ensure_unique_name(session: Session, *, user_id: uuid.UUID, name: str, skip=None) -> None:
    query = select(Project.id).where(
        Project.user_id == user_id,
        Project.deleted_at.is_(None),
        sa.func.lower(Project.name) == name.lower(),
    )
    if skip is not None:
        query = query.where(Project.id != skip)
    if session.exec(query).first():
        raise Conflict(f'You already have a project called "{name}".', code="duplicate_name")


def create_project(session: Session, *, user_id: uuid.UUID, name: str) -> Project:
    """Create a project if the plan's cap allows it.

    The user's row is locked first, so two simultaneous creates can't both pass the count.
    """
    name = validate_name(name)
    lock_profile(session, user_id=user_id)
    profile = session.get(Profile, user_id)
    if profile is None:
        raise NotFound("Account not found.")
    plan = get_plan(profile.plan)
    if not can_create_project(plan, count_projects(session, user_id=user_id)):
        raise LimitReached(
            f"Your {plan.name} plan includes {plan.max_projects} projects. Upgrade to create more.",
            code="project_limit_reached",
        )
    _ensure_unique_name(session, user_id=user_id, name=name)
    project = Project(user_id=user_id, name=name)
    session.add(project)
    session.flush()
    return project


def rename_project(
    session: Session, *, user_id: uuid.UUID, project_id: uuid.UUID | str, name: str
) -> Project:
    """Give one of the user's projects a new name."""
    name = validate_name(name)
    project = get_project(session, user_id=user_id, project_id=project_id)
    _ensure_unique_name(session, user_id=user_id, name=name, skip=project.id)
    project.name = name
    project.updated_at = db_now(session)
    session.add(project)
    return project


def delete_project(session: Session, *, user_id: uuid.UUID, project_id: uuid.UUID | str) -> None:
    """Delete a project for the user. Its usage stays on record; a running VM must be stopped
    first by the caller (the VM service does this), so nothing is billed after deletion."""
    project = get_project(session, user_id=user_id, project_id=project_id)
    now = db_now(session)
    project.deleted_at = now
    project.updated_at = now
    session.add(project)
