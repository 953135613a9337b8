"""Test card numbers and what they do."""

from __future__ import annotations

from typing import Any

from .store import Store, new_id, now

SUCCESS = "4242424242424242"
DECLINE = "4000000000000002"
# Attaches fine; every charge fails (as with Stripe's card of the same number).
ATTACH_THEN_FAIL = "4000000000000341"
FAILING_CHARGES = {DECLINE, ATTACH_THEN_FAIL}


def normalize(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


def luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def validate(number: str) -> str | None:
    """An error message for an unusable card number, or None."""
    if not 12 <= len(number) <= 19 or not luhn_ok(number):
        return "Your card number is invalid."
    return None


def charge_succeeds(number: str) -> bool:
    return bool(number) and number not in FAILING_CHARGES


def brand(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or number.startswith("2"):
        return "mastercard"
    if number[:2] in {"34", "37"}:
        return "amex"
    return "unknown"


def create_payment_method(store: Store, customer_id: str, number: str) -> dict[str, Any]:
    pm = {
        "id": new_id("pm"),
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {"address": None, "email": None, "name": None, "phone": None,
                            "tax_id": None},
        "card": {
            "brand": brand(number),
            "checks": {"address_line1_check": None, "address_postal_code_check": None,
                       "cvc_check": "pass"},
            "country": "US",
            "display_brand": brand(number),
            "exp_month": 12,
            "exp_year": 2034,
            "fingerprint": number[-8:],
            "funding": "credit",
            "last4": number[-4:],
            "networks": {"available": [brand(number)], "preferred": None},
            "wallet": None,
        },
        "created": now(),
        "customer": customer_id,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }
    store.add(pm)
    store.cards[pm["id"]] = number
    return pm


def set_default_card(store: Store, customer_id: str, number: str) -> dict[str, Any]:
    """Attach a new card and make it the customer's and their subscriptions' default."""
    customer = store.get("customer", customer_id)
    pm = create_payment_method(store, customer_id, number)
    before = dict(customer["invoice_settings"])
    customer["invoice_settings"]["default_payment_method"] = pm["id"]
    store.emit("customer.updated", customer, {"invoice_settings": before})
    for sub in store.collection("subscription").values():
        if sub["customer"] == customer_id and sub["status"] != "canceled":
            sub["default_payment_method"] = pm["id"]
    return pm
