"""What /billing shows about the account in Stripe: the card on file and when the plan renews
(or ends). Read from Stripe through the gateway, after the page's own numbers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session

from aether_web.integrations.stripe.gateway import StripeGateway
from aether_web.models import Profile


@dataclass(frozen=True)
class AccountDetails:
    """"Visa ending in 4242, expires 12/2030" and "Renews on January 1, 2027" (or "Ends on
    ..." when cancelled at the period's end); "" where Stripe has nothing to say."""

    card: str
    renewal: str


def account_details(session: Session, *, user_id: uuid.UUID,
                    gateway: StripeGateway) -> AccountDetails:
    """The card on file and the renewal date of the user's subscription. Raises the gateway's
    errors when Stripe is unreachable (the page then says it couldn't load them)."""
    profile = session.get(Profile, user_id)
    if profile is None or not profile.stripe_customer_id:
        return AccountDetails(card="", renewal="")
    card = gateway.default_card(customer_id=profile.stripe_customer_id,
                                subscription_id=profile.stripe_subscription_id)
    card_text = ""
    if card is not None:
        card_text = f"{card.brand.title()} ending in {card.last4}"
        if card.exp_month and card.exp_year:
            card_text += f", expires {card.exp_month:02d}/{card.exp_year}"
    renewal = ""
    if profile.stripe_subscription_id:
        sub = gateway.retrieve_subscription(profile.stripe_subscription_id)
        if sub.is_live and sub.current_period_end:
            day = datetime.fromtimestamp(sub.current_period_end, tz=UTC).strftime("%B %-d, %Y")
            renewal = f"Ends on {day}" if sub.cancel_at_period_end else f"Renews on {day}"
    return AccountDetails(card=card_text, renewal=renewal)
