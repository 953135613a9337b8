"""Subscription jobs: a failed payment's grace period ends on Free."""

from __future__ import annotations

from sqlmodel import Session

from aether_web.integrations.stripe import get_gateway
from aether_web.jobs.registry import Job, register
from aether_web.services import subscriptions


def expire_grace_periods(session: Session) -> str:
    return subscriptions.expire_grace_periods(session, gateway=get_gateway())


register(Job("expire_grace_periods", expire_grace_periods, every_seconds=900,
             description="Move users whose payment grace period ended to Free.",
             max_interval_seconds=3600))
