"""First-visit onboarding: whether to welcome a user, and remembering that they were."""

from __future__ import annotations

import uuid

from sqlmodel import Session

from aether_web.db import db_now
from aether_web.models import Profile


def needs_welcome(profile: Profile) -> bool:
    """A user who has not dismissed the welcome yet."""
    return profile.welcomed_at is None


def mark_welcomed(session: Session, *, user_id: uuid.UUID) -> None:
    """Remember that the user has seen the welcome (the first dismissal wins)."""
    profile = session.get(Profile, user_id)
    if profile is not None and profile.welcomed_at is None:
        profile.welcomed_at = db_now(session)
        session.add(profile)
