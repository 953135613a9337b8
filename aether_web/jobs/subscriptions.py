"""Subscription jobs: a failed payment's grace period ends on Free."""

from __future__ import annotations

import sentry_sdk
from sqlmodel import Session

from aether_web.db import read_transaction, transaction
from aether_web.integrations.stripe import get_gateway
from aether_web.jobs.registry import Job, register
from aether_web.observability import log
from aether_web.services import subscriptions


def expire_grace_periods(_session: Session) -> str:
    # Owns its transactions, one per user: no user's rows wait on another user's Stripe calls.
    gateway = get_gateway()
    with read_transaction() as session:
        due = subscriptions.grace_ended(session)
    outcomes = []
    for user_id in due:
        try:
            with transaction() as session:
                outcomes.append(subscriptions.expire_grace(session, user_id=user_id,
                                                           gateway=gateway))
        except Exception as exc:  # one user's failure holds back no other
            sentry_sdk.capture_exception(exc)
            log.error("grace end of user %s failed: %s", user_id, exc)
            outcomes.append("failed")
    summary = subscriptions.grace_summary(outcomes)
    if "failed" in outcomes:  # the run is recorded failed, with what the others got
        raise RuntimeError(summary)
    return summary


register(Job("expire_grace_periods", expire_grace_periods, every_seconds=900,
             description="Move users whose payment grace period ended to Free.",
             max_interval_seconds=3600))
