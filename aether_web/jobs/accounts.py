"""Housekeeping for accounts: expired sessions and spent throttle counters."""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlmodel import Session

from aether_web.db import db_now
from aether_web.jobs.registry import Job, register
from aether_web.models import AuthSession, ThrottleCounter


def purge_expired_sessions(session: Session) -> str:
    now = db_now(session)
    gone = session.exec(sa.delete(AuthSession).where(AuthSession.expires_at <= now)).rowcount
    # Counters are compared with the app clock (services/throttle_storage.py).
    spent = session.exec(
        sa.delete(ThrottleCounter).where(ThrottleCounter.expires_at < time.time())
    ).rowcount
    return f"removed {gone} expired sessions and {spent} spent throttle counters"


register(Job("purge_expired_sessions", purge_expired_sessions, every_seconds=3600,
             description="Delete expired sign-in sessions and spent throttle counters.",
             max_interval_seconds=3 * 3600))
