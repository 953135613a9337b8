"""What the hosted Checkout and Customer Portal pages do (the HTML is in pages.py)."""

from __future__ import annotations

import contextlib
from typing import Any

from . import billing, cards, lifecycle
from .errors import StripeError, invalid
from .resources import Ctx
from .resources.customers import create_customer
from .store import Store, now
from .views import render


def complete_checkout(ctx: Ctx, session: dict[str, Any], number: str, email: str | None) -> None:
    """Pay a subscription-mode session. Raises StripeError (402) when the card is declined."""
    store = ctx.store
    if session["status"] != "open":
        raise invalid(f"This Checkout Session is {session['status']}.")
    if session["expires_at"] <= now():
        session["status"], session["url"] = "expired", None
        raise invalid("This Checkout Session has expired.")
    number = cards.normalize(number)
    problem = cards.validate(number)
    if problem:
        raise StripeError(problem, status=402, type="card_error", code="invalid_number")
    if not cards.charge_succeeds(number):
        raise StripeError("Your card was declined.", status=402, type="card_error",
                          code="card_declined", extra={"decline_code": "generic_decline"})
    customer_id = session["customer"]
    if customer_id is None:
        email = email or session.get("customer_email")
        customer_id = create_customer(ctx, {"email": email})["id"]
    customer = store.get("customer", customer_id)
    pm = cards.create_payment_method(store, customer_id, number)
    if not customer["invoice_settings"]["default_payment_method"]:
        customer["invoice_settings"]["default_payment_method"] = pm["id"]
    sub_data = session["_subscription_data"]
    sub = lifecycle.create_subscription(
        store, customer_id,
        [{"price": s["price"], "quantity": s["quantity"]} for s in session["_line_items"]],
        metadata=sub_data["metadata"], anchor=sub_data["billing_cycle_anchor"],
        default_payment_method=pm["id"], public_url=ctx.public_url)
    session.update({
        "status": "complete",
        "payment_status": "paid",
        "customer": customer_id,
        "subscription": sub["id"],
        "invoice": sub["latest_invoice"],
        "customer_details": {"address": None, "email": customer.get("email"),
                             "name": customer.get("name"), "phone": None,
                             "tax_exempt": "none", "tax_ids": []},
        "url": None,
    })
    store.emit("checkout.session.completed",
               {k: v for k, v in session.items() if not k.startswith("_")})


def portal_subscription(store: Store, customer_id: str) -> dict[str, Any] | None:
    subs = [s for s in store.all("subscription") if s["customer"] == customer_id]
    live = [s for s in subs if s["status"] != "canceled"]
    return (live or subs or [None])[0]


def plan_prices(store: Store) -> list[dict[str, Any]]:
    """Active licensed recurring prices whose product is marked with metadata[aether_plan]."""
    out = []
    for price in reversed(store.all("price")):
        product = store.collection("product").get(price["product"])
        if (price["active"] and price["type"] == "recurring" and not billing.is_metered(price)
                and product and product["active"] and "aether_plan" in product["metadata"]):
            out.append(price)
    return out


def _live_subscription(store: Store, customer_id: str) -> dict[str, Any]:
    sub = portal_subscription(store, customer_id)
    if sub is None or sub["status"] == "canceled":
        raise invalid("There is no active subscription.")
    return sub


def switch_plan(ctx: Ctx, customer_id: str, price_id: str) -> None:
    store = ctx.store
    sub = _live_subscription(store, customer_id)
    if price_id not in {p["id"] for p in plan_prices(store)}:
        raise invalid("That plan is not available.", param="price")
    item = lifecycle.licensed_item(store, sub)
    if item is None:
        raise invalid("The subscription has no plan item to switch.")
    if item["price"] == price_id:
        return
    before = render(store, sub)
    lifecycle.update_items(store, sub, [{"id": item["id"], "price": price_id}],
                           "create_prorations", ctx.public_url)
    billing.subscription_event(store, sub, before, "customer.subscription.updated")


def set_cancel_at_period_end(ctx: Ctx, customer_id: str, value: bool) -> None:
    store = ctx.store
    sub = _live_subscription(store, customer_id)
    before = render(store, sub)
    lifecycle.set_cancel_at_period_end(sub, value)
    billing.subscription_event(store, sub, before, "customer.subscription.updated")


def cancel_now(ctx: Ctx, customer_id: str) -> None:
    sub = _live_subscription(ctx.store, customer_id)
    lifecycle.cancel_now(ctx.store, sub, ctx.public_url)


def update_card(ctx: Ctx, customer_id: str, number: str) -> None:
    """Save a new default card; open invoices of the customer are retried with it."""
    store = ctx.store
    number = cards.normalize(number)
    problem = cards.validate(number)
    if problem:
        raise StripeError(problem, status=402, type="card_error", code="invalid_number")
    cards.set_default_card(store, customer_id, number)
    for invoice in store.all("invoice"):
        if invoice["customer"] == customer_id and invoice["status"] == "open":
            with contextlib.suppress(StripeError):
                lifecycle.pay_invoice(store, invoice)
