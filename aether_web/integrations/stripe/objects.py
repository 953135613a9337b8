"""Stripe objects (as plain dicts, API version 2026-10-28.endive) mapped to small records.

Pure functions: webhook payloads and API answers go through the same mapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aether_web.billing.plans import PAID_PLAN_KEYS, PAID_PLANS

PLAN_BY_LOOKUP_KEY = {plan.stripe_lookup_key: plan.key for plan in PAID_PLANS}
# Stripe statuses of a subscription that is paid up.
PAYING_STATUSES = ("active", "trialing")
# Stripe statuses in which the customer keeps the plan they pay for (past_due within grace).
LIVE_STATUSES = (*PAYING_STATUSES, "past_due")


def _id(value: Any) -> str | None:
    """An id from a field that holds either the id or the expanded object."""
    if isinstance(value, dict):
        return value.get("id")
    return value or None


def plan_key_for_price(price: dict[str, Any] | None) -> str | None:
    """The paid plan a price sells: its lookup key, else its product's `aether_plan` metadata.

    None for metered prices, unknown prices and anything that is not Pro or Team.
    """
    if not isinstance(price, dict):
        return None
    recurring = price.get("recurring") or {}
    if recurring.get("usage_type") == "metered":
        return None
    key = PLAN_BY_LOOKUP_KEY.get(price.get("lookup_key") or "")
    if key:
        return key
    product = price.get("product")
    if isinstance(product, dict):
        plan = (product.get("metadata") or {}).get("aether_plan")
        if plan in PAID_PLAN_KEYS:
            return plan
    plan = (price.get("metadata") or {}).get("aether_plan")
    return plan if plan in PAID_PLAN_KEYS else None


@dataclass(frozen=True)
class SubscriptionInfo:
    """What the app needs from a Stripe subscription."""

    id: str
    customer_id: str | None
    status: str
    plan_key: str | None  # "pro" | "team" | None when no item sells a known plan
    cancel_at_period_end: bool
    current_period_start: int | None
    current_period_end: int | None
    created: int
    user_id: str | None  # metadata["aether_user_id"], set at checkout
    item_ids_by_lookup_key: dict[str, str] = field(default_factory=dict)
    ended_at: int | None = None
    latest_invoice_id: str | None = None
    licensed_item_id: str | None = None  # the flat-fee item (the one a plan switch moves)

    @property
    def is_live(self) -> bool:
        """Still billing (active, trialing or past_due)."""
        return self.status in LIVE_STATUSES


def subscription_from_stripe(sub: dict[str, Any]) -> SubscriptionInfo:
    """Map a subscription: the plan comes from its licensed (flat-price) item."""
    items = ((sub.get("items") or {}).get("data")) or []
    plan_key = None
    period_start = period_end = None
    by_key: dict[str, str] = {}
    licensed_item = None
    for item in items:
        price = item.get("price") if isinstance(item.get("price"), dict) else None
        if price and price.get("lookup_key"):
            by_key[price["lookup_key"]] = item.get("id")
        found = plan_key_for_price(price)
        if found and plan_key is None:
            plan_key = found
            licensed_item = item.get("id")
            period_start = item.get("current_period_start")
            period_end = item.get("current_period_end")
    if period_end is None and items:
        period_start = items[0].get("current_period_start")
        period_end = items[0].get("current_period_end")
    return SubscriptionInfo(
        id=sub["id"],
        customer_id=_id(sub.get("customer")),
        status=sub.get("status") or "incomplete",
        plan_key=plan_key,
        cancel_at_period_end=bool(sub.get("cancel_at_period_end")),
        current_period_start=period_start,
        current_period_end=period_end,
        created=int(sub.get("created") or 0),
        user_id=(sub.get("metadata") or {}).get("aether_user_id"),
        item_ids_by_lookup_key=by_key,
        ended_at=sub.get("ended_at"),
        latest_invoice_id=_id(sub.get("latest_invoice")),
        licensed_item_id=licensed_item,
    )


@dataclass(frozen=True)
class InvoiceInfo:
    """What the app records about a Stripe invoice."""

    id: str
    customer_id: str | None
    subscription_id: str | None
    status: str
    number: str | None
    currency: str
    total: int
    amount_paid: int
    amount_due: int
    period_start: int | None
    period_end: int | None
    hosted_invoice_url: str | None
    created: int
    paid_at: int | None
    billing_reason: str | None


def invoice_from_stripe(inv: dict[str, Any]) -> InvoiceInfo:
    """Map an invoice; its subscription lives under `parent.subscription_details` since basil."""
    parent = inv.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return InvoiceInfo(
        id=inv["id"],
        customer_id=_id(inv.get("customer")),
        subscription_id=_id(details.get("subscription")),
        status=inv.get("status") or "draft",
        number=inv.get("number"),
        currency=inv.get("currency") or "usd",
        total=int(inv.get("total") or 0),
        amount_paid=int(inv.get("amount_paid") or 0),
        amount_due=int(inv.get("amount_due") or 0),
        period_start=inv.get("period_start"),
        period_end=inv.get("period_end"),
        hosted_invoice_url=inv.get("hosted_invoice_url"),
        created=int(inv.get("created") or 0),
        paid_at=(inv.get("status_transitions") or {}).get("paid_at"),
        billing_reason=inv.get("billing_reason"),
    )


@dataclass(frozen=True)
class CheckoutInfo:
    """A completed (or open) Checkout Session."""

    id: str
    customer_id: str | None
    subscription_id: str | None
    client_reference_id: str | None
    status: str | None
    payment_status: str | None
    user_id: str | None


def checkout_from_stripe(cs: dict[str, Any]) -> CheckoutInfo:
    """Map a Checkout Session; the user is `client_reference_id` (or metadata as a fallback)."""
    return CheckoutInfo(
        id=cs["id"],
        customer_id=_id(cs.get("customer")),
        subscription_id=_id(cs.get("subscription")),
        client_reference_id=cs.get("client_reference_id"),
        status=cs.get("status"),
        payment_status=cs.get("payment_status"),
        user_id=cs.get("client_reference_id") or (cs.get("metadata") or {}).get("aether_user_id"),
    )


@dataclass(frozen=True)
class CardInfo:
    """The card a customer pays with, as a person recognises it."""

    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None


def card_from_stripe(pm: dict[str, Any]) -> CardInfo | None:
    """A card payment method's brand, last four digits and expiry; None for anything else."""
    card = pm.get("card") or {}
    if not card.get("last4"):
        return None
    return CardInfo(brand=str(card.get("display_brand") or card.get("brand") or "card"),
                    last4=str(card["last4"]), exp_month=card.get("exp_month"),
                    exp_year=card.get("exp_year"))


@dataclass(frozen=True)
class InvoiceLineInfo:
    """One line of an invoice: a subscription item's price, or a one-off invoice item."""

    id: str
    amount: int
    quantity: int
    description: str
    product_id: str | None
    price_id: str | None
    period_start: int | None
    period_end: int | None
    invoice_item_id: str | None
    metadata: dict[str, str]


def invoice_lines_from_stripe(inv: dict[str, Any]) -> list[InvoiceLineInfo]:
    """The lines of an invoice (`pricing.price_details` since basil)."""
    out = []
    for line in ((inv.get("lines") or {}).get("data")) or []:
        pricing = line.get("pricing") or {}
        details = pricing.get("price_details") or {}
        parent = line.get("parent") or {}
        item_details = parent.get("invoice_item_details") or {}
        period = line.get("period") or {}
        out.append(InvoiceLineInfo(
            id=line.get("id") or "",
            amount=int(line.get("amount") or 0),
            quantity=int(line.get("quantity") or 0),
            description=line.get("description") or "",
            product_id=_id(details.get("product")),
            price_id=_id(details.get("price")),
            period_start=period.get("start"),
            period_end=period.get("end"),
            invoice_item_id=_id(item_details.get("invoice_item")),
            metadata=dict(line.get("metadata") or {}),
        ))
    return out


@dataclass(frozen=True)
class InvoicePreview:
    """Stripe's preview of the invoice that closing a subscription's period would produce."""

    total: int
    amount_due: int
    currency: str
    next_payment_attempt: int | None  # unix seconds: the next attempt, else the period's end
    lines: list[InvoiceLineInfo]


def invoice_preview_from_stripe(inv: dict[str, Any]) -> InvoicePreview:
    return InvoicePreview(
        total=int(inv.get("total") or 0),
        amount_due=int(inv.get("amount_due") or 0),
        currency=inv.get("currency") or "usd",
        next_payment_attempt=inv.get("next_payment_attempt") or inv.get("period_end"),
        lines=invoice_lines_from_stripe(inv),
    )
