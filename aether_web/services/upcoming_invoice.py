"""What the next invoice will be, from Stripe's invoice preview.

The preview holds the plan's price for the next period and whatever usage the meters have
received for this one. Overage is sent to the meters once a month has ended
(`services.overage`), so mid-month the preview's metered lines are empty and the page adds
the overage counted so far itself (`estimate_cents`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session

from aether_web.integrations.stripe import (
    METERS,
    StripeGateway,
    StripeGatewayError,
    StripeUnavailable,
)
from aether_web.models import Profile
from aether_web.services.billing import has_live_subscription


@dataclass(frozen=True)
class UpcomingInvoice:
    """The preview of the invoice that closing the current period would produce."""

    total_cents: int
    amount_due_cents: int
    # The part of it that is metered usage already reported for this period.
    metered_cents: int
    currency: str
    next_payment_at: datetime | None

    def estimate_cents(self, overage_so_far_cents: int) -> int:
        """The next invoice with this period's overage counted so far in place of what the
        meters have received (the same usage, reported when the month ends).

        Built on the preview's total, not its amount due: proration credits stay in (a
        preview total of -$10 plus $3 of overage is -$7, never $20 or $3)."""
        return self.total_cents - self.metered_cents + max(0, overage_so_far_cents)


def upcoming_invoice(
    session: Session, *, user_id: uuid.UUID, gateway: StripeGateway
) -> UpcomingInvoice | None:
    """The user's next invoice, or None when they have no live subscription, Stripe has no
    upcoming invoice for it, or Stripe is not answering (the page shows the rest anyway)."""
    profile = session.get(Profile, user_id)
    if profile is None or not profile.stripe_customer_id or not has_live_subscription(profile):
        return None
    try:
        preview = gateway.invoice_preview(customer_id=profile.stripe_customer_id,
                                          subscription_id=profile.stripe_subscription_id)
        metered_prices = set(gateway.price_ids_by_lookup_key(list(METERS)).values())
    except (StripeUnavailable, StripeGatewayError):
        return None
    attempt = preview.next_payment_attempt
    return UpcomingInvoice(
        total_cents=preview.total,
        amount_due_cents=preview.amount_due,
        metered_cents=sum(line.amount for line in preview.lines
                          if line.price_id in metered_prices),
        currency=preview.currency,
        next_payment_at=datetime.fromtimestamp(attempt, UTC) if attempt else None,
    )
