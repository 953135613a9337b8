"""Housekeeping for accounts: expired sessions and old failed log-ins."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session

from aether_web.db import db_now
from aether_web.jobs.registry import Job, register
from aether_web.models import AuthSession, LoginAttempt


def purge_expired_sessions(session: Session) -> str:
    now = db_now(session)
    gone = session.exec(sa.delete(AuthSession).where(AuthSession.expires_at <= now)).rowcount
    old = session.exec(
        sa.delete(LoginAttempt).where(LoginAttempt.attempted_at < now - timedelta(days=1))
    ).rowcount
    return f"removed {gone} expired sessions and {old} old failed log-ins"


register(Job("purge_expired_sessions", purge_expired_sessions, every_seconds=3600,
             description="Delete expired sign-in sessions and old failed log-ins.",
             max_interval_seconds=3 * 3600))
