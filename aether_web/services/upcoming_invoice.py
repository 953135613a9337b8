"""What the next invoice will be, from Stripe's invoice preview (flat price + overage so far)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session

from aether_web.integrations.stripe import StripeGateway, StripeGatewayError, StripeUnavailable
from aether_web.models import Profile
from aether_web.services.billing import has_live_subscription


@dataclass(frozen=True)
class UpcomingInvoice:
    """The preview of the invoice that closing the current period would produce."""

    total_cents: int
    amount_due_cents: int
    currency: str
    next_payment_at: datetime | None


def upcoming_invoice(
    session: Session, *, user_id: uuid.UUID, gateway: StripeGateway
) -> UpcomingInvoice | None:
    """The user's next invoice, or None when they have no live subscription, Stripe has no
    upcoming invoice for it, or Stripe is not answering (the page shows the rest anyway)."""
    profile = session.get(Profile, user_id)
    if profile is None or not profile.stripe_customer_id or not has_live_subscription(profile):
        return None
    try:
        preview = gateway.call(
            "invoice preview", gateway.client.v1.invoices.create_preview,
            params={"customer": profile.stripe_customer_id,
                    "subscription": profile.stripe_subscription_id})
    except (StripeUnavailable, StripeGatewayError):
        return None
    attempt = getattr(preview, "next_payment_attempt", None) or getattr(
        preview, "period_end", None)
    return UpcomingInvoice(
        total_cents=int(preview.total or 0),
        amount_due_cents=int(preview.amount_due or 0),
        currency=preview.currency or "usd",
        next_payment_at=datetime.fromtimestamp(attempt, UTC) if attempt else None,
    )
