"""Deleting an account: the subscription ends in Stripe, VMs stop, personal data goes; what
billing law requires (invoices, usage) stays, tied to a pseudonymous account row."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import Session, select

from aether_web.billing.plans import PlanKey
from aether_web.db import db_now
from aether_web.errors import NotFound
from aether_web.integrations.stripe import StripeGateway
from aether_web.integrations.stripe.errors import StripeGatewayError
from aether_web.integrations.vm_provider import VMProvider, get_vm_provider
from aether_web.models import AccountToken, EmailOutbox, Profile, Project
from aether_web.observability import log
from aether_web.services import subscription_lifecycle, vms
from aether_web.services.account_settings import check_password
from aether_web.services.accounts import end_sessions, lock_profile
from aether_web.services.billing import has_live_subscription
from aether_web.services.subscriptions import set_plan

# Addresses under the reserved `.invalid` domain can never receive mail (RFC 2606).
PSEUDONYM_DOMAIN = "deleted.invalid"


def pseudonym_email(user_id: uuid.UUID) -> str:
    """The address a deleted account keeps: unique, and nobody's."""
    return f"deleted-{user_id.hex}@{PSEUDONYM_DOMAIN}"


def _cancel_subscription(session: Session, profile: Profile, gateway: StripeGateway) -> None:
    """Cancel now as the billing page's "Cancel now" does: the overage so far is sent first,
    so the final invoice (`invoice_now`, `prorate`) carries it."""
    if not has_live_subscription(profile) or not profile.stripe_subscription_id:
        return
    try:
        subscription_lifecycle.cancel_now(session, user_id=profile.id, gateway=gateway)
    except StripeGatewayError:
        # Refused: it may already be canceled (a repeat). Anything else stops the deletion.
        sub = gateway.retrieve_subscription(profile.stripe_subscription_id)
        if sub.status not in ("canceled", "incomplete_expired"):
            raise
    profile.subscription_status = "canceled"


def delete_account(
    session: Session, *, user_id: uuid.UUID, gateway: StripeGateway, password: str = "",
    verified_hash: str | None = None, provider: VMProvider | None = None,
) -> None:
    """Delete the account after checking its password.

    In order: the subscription is canceled in Stripe at once (the usage so far invoiced, the
    unused fee credited), every VM is stopped and its run closed, then the email, name,
    password hash, sessions, emailed links, mail copies and project names are removed. The
    account row stays under a pseudonym with its invoices, usage and overage records.
    The password is checked as `account_settings.check_password` does.
    Raises Unauthenticated (`wrong_password`), or ServiceUnavailable when Stripe or the VM
    service does not answer (then nothing is deleted: the caller rolls back)."""
    profile = session.get(Profile, user_id)
    if profile is None or profile.deleted_at is not None:
        raise NotFound("Account not found.", code="account_not_found")
    check_password(profile, password, verified_hash=verified_hash)
    lock_profile(session, user_id=profile.id)
    _cancel_subscription(session, profile, gateway)
    provider = provider or get_vm_provider()
    now = db_now(session)
    projects = session.exec(select(Project).where(Project.user_id == profile.id)).all()
    for project in projects:
        if project.deleted_at is None:
            vms.stop_for_deletion(session, user_id=profile.id, project_id=project.id,
                                  provider=provider)
            project.deleted_at = now
        project.name = f"project-{project.id.hex[:8]}"
        session.add(project)
    set_plan(session, profile=profile, plan=PlanKey.FREE, reason="account deleted")
    end_sessions(session, user_id=profile.id)
    session.exec(sa.delete(AccountToken).where(AccountToken.user_id == profile.id))
    session.exec(sa.delete(EmailOutbox).where(EmailOutbox.user_id == profile.id))
    profile.email = pseudonym_email(profile.id)
    profile.name = ""
    profile.password_hash = ""
    profile.email_verified_at = None
    profile.signup_plan = None
    profile.is_admin = False
    profile.deleted_at = now
    profile.updated_at = now
    session.add(profile)
    log.info("account %s deleted", profile.id)
