"""The one Stripe gateway: a configured client, Stripe objects mapped to small domain records,
webhook verification and the catalogue set-up. Nothing else in the app imports `stripe`."""

from aether_web.integrations.stripe.catalog import (
    COMPUTE_METER,
    METERS,
    STORAGE_METER,
    CatalogItem,
    ensure_catalog,
)
from aether_web.integrations.stripe.client import (
    get_gateway,
    make_client,
    make_sender_client,
    sender_gateway,
)
from aether_web.integrations.stripe.errors import StripeGatewayError, StripeUnavailable
from aether_web.integrations.stripe.gateway import StripeGateway
from aether_web.integrations.stripe.objects import (
    LIVE_STATUSES,
    PAYING_STATUSES,
    CheckoutInfo,
    InvoiceInfo,
    InvoiceLineInfo,
    InvoicePreview,
    SubscriptionInfo,
    checkout_from_stripe,
    invoice_from_stripe,
    plan_key_for_price,
    subscription_from_stripe,
)
from aether_web.integrations.stripe.webhooks import InvalidSignature, verify_event

__all__ = [
    "COMPUTE_METER",
    "LIVE_STATUSES",
    "METERS",
    "PAYING_STATUSES",
    "STORAGE_METER",
    "CatalogItem",
    "CheckoutInfo",
    "InvalidSignature",
    "InvoiceInfo",
    "InvoiceLineInfo",
    "InvoicePreview",
    "StripeGateway",
    "StripeGatewayError",
    "StripeUnavailable",
    "SubscriptionInfo",
    "checkout_from_stripe",
    "ensure_catalog",
    "get_gateway",
    "invoice_from_stripe",
    "make_client",
    "make_sender_client",
    "plan_key_for_price",
    "sender_gateway",
    "subscription_from_stripe",
    "verify_event",
]
