"""Subscription lifecycle: create, change price, cancel, close a period, retry payment."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from . import billing, period_end
from .errors import StripeError, card_declined, invalid
from .forms import as_int, as_list
from .resources import invoiceitems
from .store import Store, new_id, now
from .views import render


def _subscription_record(
    store: Store, customer: str, metadata: dict[str, str], start: int, anchor: int
) -> dict[str, Any]:
    sub_id = new_id("sub")
    return {
        "id": sub_id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": anchor,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic", "updated_at": None},
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": start,
        "currency": billing.CURRENCY,
        "customer": customer,
        "days_until_due": None,
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": [],
            "has_more": False,
            "total_count": 0,
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
        "latest_invoice": None,
        "livemode": False,
        "metadata": metadata,
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                             "save_default_payment_method": "off"},
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": start,
        "status": "incomplete",
        "test_clock": (store.collection("customer").get(customer) or {}).get("test_clock"),
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
    }


def _new_item(
    store: Store, sub: dict[str, Any], spec: dict[str, Any], period: tuple[int, int], idx: int
) -> dict[str, Any]:
    price = store.get("price", spec.get("price"), param=f"items[{idx}][price]")
    if not price["active"]:
        raise invalid(f"The price specified is inactive: {price['id']}", param=f"items[{idx}][price]")
    if price.get("type") != "recurring":
        raise invalid(
            "The price specified is set to `type=one_time` but this field only accepts prices "
            "with `type=recurring`.", param=f"items[{idx}][price]")
    item: dict[str, Any] = {
        "id": new_id("si"),
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": now(),
        "current_period_end": period[1],
        "current_period_start": period[0],
        "discounts": [],
        "metadata": dict(spec.get("metadata") or {}),
        "price": price["id"],
        "subscription": sub["id"],
        "tax_rates": [],
    }
    if billing.is_metered(price):
        if spec.get("quantity") not in (None, ""):
            raise invalid("Quantity should not be specified where usage_type is `metered`.",
                          param=f"items[{idx}][quantity]")
    else:
        item["quantity"] = as_int(spec.get("quantity"), f"items[{idx}][quantity]", 1)
    return item


def _first_period(store: Store, items: list[dict[str, Any]], start: int,
                  anchor: int | None) -> tuple[tuple[int, int], Decimal | None]:
    price = store.get("price", items[0].get("price"), param="items[0][price]")
    rec = billing.recurring_of(price)
    interval, count = rec.get("interval", "month"), int(rec.get("interval_count", 1))
    full_end = billing.add_interval(start, interval, count, start)
    if anchor is None or anchor <= start:
        return (start, full_end), None
    if anchor > full_end:
        raise invalid("billing_cycle_anchor cannot be later than the next natural billing "
                      "date for the plan.", param="billing_cycle_anchor")
    return (start, anchor), Decimal(anchor - start) / Decimal(full_end - start)


def create_subscription(
    store: Store,
    customer_id: str,
    item_specs: list[dict[str, Any]],
    *,
    metadata: dict[str, str] | None = None,
    anchor: int | None = None,
    default_payment_method: str | None = None,
    payment_behavior: str = "allow_incomplete",
    public_url: str,
) -> dict[str, Any]:
    customer = store.get("customer", customer_id, param="customer")
    if not item_specs:
        raise invalid("Missing required param: items.", param="items", code="parameter_missing")
    if default_payment_method:
        store.get("payment_method", default_payment_method, param="default_payment_method")
    start = now()
    period, fraction = _first_period(store, item_specs, start, anchor)
    sub = _subscription_record(store, customer["id"], dict(metadata or {}), start,
                               period[1] if fraction is not None else start)
    sub["default_payment_method"] = default_payment_method
    for idx, spec in enumerate(item_specs):
        sub["items"]["data"].append(_new_item(store, sub, spec, period, idx))
    sub["items"]["total_count"] = len(sub["items"]["data"])
    invoice = billing.build_invoice(
        store, sub, billing.licensed_lines(store, sub, period, fraction), period,
        "subscription_create", public_url)
    pm_id = billing.payment_method_for(store, sub, customer["id"])
    if (payment_behavior == "error_if_incomplete" and invoice["amount_due"] > 0
            and not (pm_id and billing.cards.charge_succeeds(store.cards.get(pm_id, "")))):
        raise card_declined()
    store.add(sub)
    sub["latest_invoice"] = invoice["id"]
    billing.finalize(store, invoice)
    paid = billing.attempt_payment(store, invoice)
    sub["status"] = "active" if paid else "incomplete"
    billing.subscription_event(store, sub, None, "customer.subscription.created")
    return sub


def set_cancel_at_period_end(sub: dict[str, Any], value: bool) -> None:
    """Schedule (or unschedule) cancellation at the end of the current period."""
    sub["cancel_at_period_end"] = value
    sub["cancel_at"] = sub["items"]["data"][0]["current_period_end"] if value else None
    sub["canceled_at"] = now() if value else None
    sub["cancellation_details"]["reason"] = "cancellation_requested" if value else None


def licensed_item(store: Store, sub: dict[str, Any]) -> dict[str, Any] | None:
    for item in sub["items"]["data"]:
        if not billing.is_metered(store.get("price", item["price"])):
            return item
    return None


def update_items(
    store: Store, sub: dict[str, Any], specs: list[dict[str, Any]], proration_behavior: str,
    public_url: str,
) -> None:
    """Apply ``items`` changes: swap price/quantity by id, add new, delete."""
    at = now()
    data = sub["items"]["data"]
    period = (data[0]["current_period_start"], data[0]["current_period_end"]) if data else (
        at, billing.add_interval(at, "month", 1, at))
    lines: list[dict[str, Any]] = []
    for idx, spec in enumerate(specs):
        item_id = spec.get("id")
        if not item_id:
            data.append(_new_item(store, sub, spec, period, idx))
            continue
        item = next((i for i in data if i["id"] == item_id), None)
        if item is None:
            raise invalid(f"No such subscription item: '{item_id}'", param=f"items[{idx}][id]",
                          code="resource_missing")
        if str(spec.get("deleted", "")).lower() == "true":
            data.remove(item)
            continue
        old_price = store.get("price", item["price"])
        if spec.get("price") and spec["price"] != item["price"]:
            new_price = store.get("price", spec["price"], param=f"items[{idx}][price]")
            if billing.is_metered(new_price) != billing.is_metered(old_price):
                raise invalid("Cannot change an item between metered and licensed prices.",
                              param=f"items[{idx}][price]")
            if proration_behavior != "none":
                lines += billing.proration_lines(store, sub, item, old_price, new_price, at)
            item["price"] = new_price["id"]
        if spec.get("quantity") not in (None, "") and "quantity" in item:
            item["quantity"] = as_int(spec["quantity"], f"items[{idx}][quantity]")
        if spec.get("metadata") is not None:
            item["metadata"] = dict(spec["metadata"] or {})
    sub["items"]["total_count"] = len(data)
    if not lines:
        return
    if proration_behavior == "always_invoice":
        lines += store.pending_lines.pop(sub["id"], [])
        invoice = billing.build_invoice(store, sub, lines, (at, period[1]),
                                        "subscription_update", public_url)
        sub["latest_invoice"] = invoice["id"]
        billing.finalize(store, invoice)
        if not billing.attempt_payment(store, invoice):
            sub["status"] = "past_due"
    else:
        store.pending_lines.setdefault(sub["id"], []).extend(lines)


def cancel_now(store: Store, sub: dict[str, Any], public_url: str, *, invoice_now: bool = False,
               prorate: bool = False, reason: str = "cancellation_requested") -> None:
    if sub["status"] == "canceled":
        raise invalid(f"A canceled subscription can only update its cancellation_details "
                      f"and metadata. ({sub['id']})", code="resource_missing")
    before = render(store, sub)
    at = now()
    if prorate:
        store.pending_lines.setdefault(sub["id"], []).extend(_unused_time_credit(store, sub, at))
    if invoice_now:
        invoice = _invoice_period_end(store, sub, at, public_url, renew=False)
        if invoice["amount_due"] > 0:
            billing.attempt_payment(store, invoice)
    sub["status"] = "canceled"
    sub["canceled_at"] = at
    sub["ended_at"] = at
    sub["cancellation_details"]["reason"] = reason
    store.pending_lines.pop(sub["id"], None)
    billing.subscription_event(store, sub, before, "customer.subscription.deleted")


def _unused_time_credit(store: Store, sub: dict[str, Any], at: int) -> list[dict[str, Any]]:
    """Credit lines for the unused part of the flat fees (``prorate=true`` on cancel)."""
    item = licensed_item(store, sub)
    if item is None:
        return []
    price = store.get("price", item["price"])
    lines = billing.proration_lines(store, sub, item, price, price, at)
    return lines[:1]  # the credit only: nothing follows a cancellation


def _invoice_period_end(store: Store, sub: dict[str, Any], at: int, public_url: str, *,
                        renew: bool, draft: bool = False) -> dict[str, Any]:
    data = sub["items"]["data"]
    start, end = data[0]["current_period_start"], data[0]["current_period_end"]
    close_at = min(at, end)
    lines = billing.metered_lines(store, sub, start, close_at)
    lines += store.pending_lines.pop(sub["id"], [])
    lines += invoiceitems.pending_item_lines(store, sub["customer"])
    if renew:
        first = store.get("price", data[0]["price"])
        rec = billing.recurring_of(first)
        anchor = sub["billing_cycle_anchor"] if close_at == end else close_at
        sub["billing_cycle_anchor"] = anchor
        next_end = billing.add_interval(close_at, rec.get("interval", "month"),
                                        int(rec.get("interval_count", 1)), anchor)
        for item in data:
            item["current_period_start"], item["current_period_end"] = close_at, next_end
        lines = billing.licensed_lines(store, sub, (close_at, next_end)) + lines
    invoice = billing.build_invoice(store, sub, lines, (start, close_at), "subscription_cycle",
                                    public_url)
    sub["latest_invoice"] = invoice["id"]
    store.add(invoice)
    invoiceitems.attach(store, invoice)
    if draft:
        period_end.open_renewal_draft(store, invoice)
    else:
        billing.finalize(store, invoice)
    return invoice


def close_period(store: Store, sub: dict[str, Any], at: int, public_url: str, *,
                 draft: bool = False) -> dict[str, Any]:
    """Invoice the current period as of ``at`` (capped at the period end) and advance it.

    ``draft``: the invoice starts as a draft, as Stripe's renewal invoices do, and is finalized
    and charged later (``period_end.finalize_draft``); otherwise at once.
    """
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise invalid(f"Subscription {sub['id']} is {sub['status']}.")
    data = sub["items"]["data"]
    if at <= data[0]["current_period_start"]:
        raise invalid("`at` must be after the current period start.", param="at")
    before = render(store, sub)
    ending = sub["cancel_at_period_end"]
    invoice = _invoice_period_end(store, sub, at, public_url, renew=not ending, draft=draft)
    paid = True if draft else billing.attempt_payment(store, invoice)
    if ending:
        sub["status"] = "canceled"
        sub["canceled_at"] = sub["canceled_at"] or now()
        sub["ended_at"] = invoice["period_end"]
        billing.subscription_event(store, sub, before, "customer.subscription.deleted")
    else:
        if not paid:
            sub["status"] = "past_due"
        elif sub["status"] == "past_due":
            sub["status"] = "active"
        billing.subscription_event(store, sub, before, "customer.subscription.updated")
    return invoice


def pay_invoice(store: Store, invoice: dict[str, Any]) -> dict[str, Any]:
    """Retry an open invoice; on success a past_due/incomplete subscription becomes active."""
    if not billing.attempt_payment(store, invoice):
        raise StripeError("Your card was declined.", status=402, type="card_error",
                          code="card_declined", extra={"decline_code": "generic_decline"})
    sub_id = billing.invoice_subscription_id(invoice)
    sub = store.collection("subscription").get(sub_id) if sub_id else None
    if sub and sub["status"] in ("past_due", "incomplete", "unpaid"):
        before = render(store, sub)
        sub["status"] = "active"
        billing.subscription_event(store, sub, before, "customer.subscription.updated")
    return invoice


def item_specs(value: Any) -> list[dict[str, Any]]:
    specs = as_list(value)
    for idx, spec in enumerate(specs):
        if not isinstance(spec, dict):
            raise invalid("Invalid array", param=f"items[{idx}]")
    return specs
