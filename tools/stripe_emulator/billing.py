"""Billing rules: periods, usage aggregation, invoice building and charging."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from . import cards
from .errors import invalid
from .store import Store, new_id, now
from .views import render

CURRENCY = "usd"


# ---------------------------------------------------------------- periods


def add_interval(ts: int, interval: str, count: int, anchor: int) -> int:
    """``ts`` advanced by ``count`` intervals, keeping the anchor's day and time of day."""
    if interval == "day":
        return ts + 86400 * count
    if interval == "week":
        return ts + 7 * 86400 * count
    months = count * (12 if interval == "year" else 1)
    start = datetime.fromtimestamp(ts, UTC)
    anchor_dt = datetime.fromtimestamp(anchor, UTC)
    total = start.year * 12 + (start.month - 1) + months
    year, month = divmod(total, 12)
    month += 1
    day = min(anchor_dt.day, calendar.monthrange(year, month)[1])
    end = datetime(
        year, month, day, anchor_dt.hour, anchor_dt.minute, anchor_dt.second, tzinfo=UTC
    )
    return int(end.timestamp())


def recurring_of(price: dict[str, Any]) -> dict[str, Any]:
    return price.get("recurring") or {"interval": "month", "interval_count": 1}


def is_metered(price: dict[str, Any]) -> bool:
    return recurring_of(price).get("usage_type") == "metered"


def unit_decimal(price: dict[str, Any]) -> Decimal:
    if price.get("unit_amount_decimal") is not None:
        return Decimal(str(price["unit_amount_decimal"]))
    return Decimal(price.get("unit_amount") or 0)


def cents(value: Decimal) -> int:
    """Round a Decimal amount of cents to whole cents, half up (away from zero)."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def money(amount_cents: Decimal | int) -> str:
    value = Decimal(amount_cents) / 100
    if value == value.quantize(Decimal("0.01")):
        return f"${value:,.2f}"
    return f"${value.normalize():f}"


# ---------------------------------------------------------------- usage


def usage(store: Store, meter_id: str, customer: str, start: int, end: int) -> Decimal:
    """The meter's aggregated value for ``customer`` over ``start <= timestamp < end``."""
    meter = store.collection("billing.meter").get(meter_id)
    if meter is None:
        return Decimal(0)
    events = [e for e in store.meter_usage.get((meter_id, customer), ())
              if start <= e["timestamp"] < end and not e.get("canceled")]
    formula = meter["default_aggregation"]["formula"]
    if formula == "count":
        return Decimal(len(events))
    if not events:
        return Decimal(0)
    if formula == "last":
        return Decimal(max(events, key=lambda e: (e["timestamp"], e["seq"]))["value"])
    return sum((Decimal(e["value"]) for e in events), Decimal(0))


# ---------------------------------------------------------------- lines


def _product_name(store: Store, price: dict[str, Any]) -> str:
    product = store.collection("product").get(price["product"])
    return product["name"] if product else price["product"]


def make_line(
    store: Store,
    sub: dict[str, Any],
    item: dict[str, Any],
    price: dict[str, Any],
    *,
    amount: int,
    quantity: Decimal | int,
    period: tuple[int, int],
    description: str | None = None,
    proration: bool = False,
) -> dict[str, Any]:
    interval = recurring_of(price).get("interval", "month")
    if description is None:
        description = (
            f"{quantity} × {_product_name(store, price)} "
            f"(at {money(unit_decimal(price))} / {interval})"
        )
    return {
        "id": new_id("il"),
        "object": "line_item",
        "amount": amount,
        "currency": price.get("currency", CURRENCY),
        "description": description,
        "discount_amounts": [],
        "discountable": not proration,
        "discounts": [],
        "invoice": None,
        "livemode": False,
        "metadata": {},
        "parent": {
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": proration,
                "proration_details": {"credited_items": None},
                "subscription": sub["id"],
                "subscription_item": item["id"],
            },
        },
        "period": {"start": period[0], "end": period[1]},
        "pretax_credit_amounts": [],
        "pricing": {
            "type": "price_details",
            "price_details": {"price": price["id"], "product": price["product"]},
            "unit_amount_decimal": str(unit_decimal(price)),
        },
        "quantity": int(quantity),
        "quantity_decimal": str(quantity),
        "subtotal": amount,
        "taxes": [],
    }


def licensed_lines(
    store: Store, sub: dict[str, Any], period: tuple[int, int], fraction: Decimal | None = None
) -> list[dict[str, Any]]:
    """Flat-fee lines (billed in advance) for ``period``; ``fraction`` prorates them."""
    lines = []
    for item in sub["items"]["data"]:
        price = store.get("price", item["price"])
        if is_metered(price):
            continue
        qty = item.get("quantity") or 1
        full = unit_decimal(price) * qty
        amount = cents(full * fraction) if fraction is not None else cents(full)
        lines.append(make_line(store, sub, item, price, amount=amount, quantity=qty, period=period))
    return lines


def metered_lines(
    store: Store, sub: dict[str, Any], start: int, end: int
) -> list[dict[str, Any]]:
    """Usage lines (billed in arrears) for ``start <= timestamp < end``."""
    lines = []
    for item in sub["items"]["data"]:
        price = store.get("price", item["price"])
        if not is_metered(price):
            continue
        meter_id = recurring_of(price).get("meter")
        qty = usage(store, meter_id, sub["customer"], start, end) if meter_id else Decimal(0)
        amount = cents(qty * unit_decimal(price))
        lines.append(
            make_line(store, sub, item, price, amount=amount, quantity=qty, period=(start, end))
        )
    return lines


def proration_lines(
    store: Store,
    sub: dict[str, Any],
    item: dict[str, Any],
    old_price: dict[str, Any],
    new_price: dict[str, Any],
    at: int,
) -> list[dict[str, Any]]:
    """Credit for unused time on the old flat price and charge for the rest on the new one."""
    start, end = item["current_period_start"], item["current_period_end"]
    if end <= start or at >= end or is_metered(old_price) or is_metered(new_price):
        return []
    fraction = Decimal(end - max(at, start)) / Decimal(end - start)
    qty = item.get("quantity") or 1
    day = datetime.fromtimestamp(at, UTC).strftime("%d %b %Y")
    credit = make_line(
        store, sub, item, old_price,
        amount=-cents(unit_decimal(old_price) * qty * fraction), quantity=qty,
        period=(at, end), proration=True,
        description=f"Unused time on {_product_name(store, old_price)} after {day}",
    )
    charge = make_line(
        store, sub, item, new_price,
        amount=cents(unit_decimal(new_price) * qty * fraction), quantity=qty,
        period=(at, end), proration=True,
        description=f"Remaining time on {_product_name(store, new_price)} after {day}",
    )
    return [credit, charge]


# ---------------------------------------------------------------- invoices


def build_invoice(
    store: Store,
    sub: dict[str, Any],
    lines: list[dict[str, Any]],
    period: tuple[int, int],
    billing_reason: str,
    public_url: str,
    *,
    preview: bool = False,
) -> dict[str, Any]:
    customer = store.get("customer", sub["customer"])
    inv_id = new_id("upcoming_in" if preview else "in")
    total = sum(line["amount"] for line in lines)
    for line in lines:
        line["invoice"] = None if preview else inv_id
    created = now()
    return {
        "id": inv_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Stripe emulator",
        "account_tax_ids": None,
        "amount_due": max(total, 0),
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": max(total, 0),
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": not preview,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None,
                          "disabled_reason": None, "status": None},
        "automatically_finalizes_at": None,
        "billing_reason": "upcoming" if preview else billing_reason,
        "collection_method": "charge_automatically",
        "created": created,
        "currency": CURRENCY,
        "custom_fields": None,
        "customer": customer["id"],
        "customer_address": None,
        "customer_email": customer.get("email"),
        "customer_name": customer.get("name"),
        "customer_phone": None,
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None if preview else f"{public_url}/invoices/{inv_id}",
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "object": "list",
            "data": lines,
            "has_more": False,
            "total_count": len(lines),
            "url": f"/v1/invoices/{inv_id}/lines",
        },
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(sub.get("metadata") or {}),
                "subscription": sub["id"],
                "subscription_proration_date": None,
            },
        },
        "payment_settings": {"default_mandate": None, "payment_method_options": None,
                             "payment_method_types": None},
        "period_end": period[1],
        "period_start": period[0],
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None,
                               "paid_at": None, "voided_at": None},
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "test_clock": customer.get("test_clock"),
        "threshold_reason": None,
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
    }


def open_draft(store: Store, invoice: dict[str, Any]) -> None:
    """Store a draft invoice and announce it (``invoice.created``)."""
    store.add(invoice)
    store.emit("invoice.created", invoice)


def finalize_open(store: Store, invoice: dict[str, Any]) -> None:
    """Finalize a stored draft: number, status open, ``invoice.finalized``."""
    customer = store.get("customer", invoice["customer"])
    seq = store.next_number(f"invoice:{customer['id']}")
    invoice["number"] = f"{customer['invoice_prefix']}-{seq:04d}"
    invoice["status"] = "open"
    invoice["automatically_finalizes_at"] = None
    invoice["effective_at"] = now()
    invoice["status_transitions"]["finalized_at"] = now()
    store.drafts.discard(invoice["id"])
    store.emit("invoice.finalized", invoice)


def invoice_subscription_id(invoice: dict[str, Any]) -> str | None:
    """The invoice's subscription (None for an invoice of its own: ``parent`` is null)."""
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return details.get("subscription")


def finalize(store: Store, invoice: dict[str, Any]) -> None:
    """Store a draft invoice, then finalize it at once (number, status open)."""
    open_draft(store, invoice)
    finalize_open(store, invoice)


def refresh_totals(invoice: dict[str, Any]) -> None:
    """Recompute an invoice's totals from its lines."""
    total = sum(line["amount"] for line in invoice["lines"]["data"])
    invoice["lines"]["total_count"] = len(invoice["lines"]["data"])
    for key in ("subtotal", "subtotal_excluding_tax", "total", "total_excluding_tax"):
        invoice[key] = total
    invoice["amount_due"] = invoice["amount_remaining"] = max(total, 0)


def refresh_metered_lines(store: Store, invoice: dict[str, Any]) -> None:
    """Bring a draft's usage lines up to the meters' current totals (Stripe does this while an
    invoice is a draft and once more when it finalizes)."""
    for line in invoice["lines"]["data"]:
        price = store.collection("price").get(
            (line.get("pricing") or {}).get("price_details", {}).get("price", ""))
        if price is None or not is_metered(price):
            continue
        meter_id = recurring_of(price).get("meter")
        qty = (usage(store, meter_id, invoice["customer"], line["period"]["start"],
                     line["period"]["end"]) if meter_id else Decimal(0))
        line["amount"] = line["subtotal"] = cents(qty * unit_decimal(price))
        line["quantity"], line["quantity_decimal"] = int(qty), str(qty)
    refresh_totals(invoice)


def payment_method_for(store: Store, sub: dict[str, Any] | None, customer_id: str) -> str | None:
    if sub and sub.get("default_payment_method"):
        return sub["default_payment_method"]
    customer = store.get("customer", customer_id)
    return (customer.get("invoice_settings") or {}).get("default_payment_method")


def attempt_payment(store: Store, invoice: dict[str, Any]) -> bool:
    """Charge an open invoice. Emits invoice.paid or invoice.payment_failed."""
    if invoice["status"] != "open":
        raise invalid(f"Invoice is already {invoice['status']}.", code="invoice_not_open")
    sub_id = invoice_subscription_id(invoice)
    sub = store.collection("subscription").get(sub_id) if sub_id else None
    pm_id = payment_method_for(store, sub, invoice["customer"])
    invoice["attempted"] = True
    invoice["attempt_count"] += 1
    ok = invoice["amount_due"] == 0 or (
        pm_id is not None and cards.charge_succeeds(store.cards.get(pm_id, ""))
    )
    if ok:
        invoice["status"] = "paid"
        invoice["amount_paid"] = invoice["amount_due"]
        invoice["amount_remaining"] = 0
        invoice["ending_balance"] = 0
        invoice["next_payment_attempt"] = None
        invoice["status_transitions"]["paid_at"] = now()
        store.emit("invoice.paid", invoice)
    else:
        invoice["next_payment_attempt"] = now() + 3 * 86400
        store.emit("invoice.payment_failed", invoice)
    return ok


def subscription_event(
    store: Store, sub: dict[str, Any], before: dict[str, Any] | None, event_type: str
) -> None:
    """Emit ``event_type`` with ``previous_attributes`` computed from ``before``."""
    after = render(store, sub)
    previous = None
    if before is not None:
        previous = {k: v for k, v in before.items() if after.get(k) != v}
        if not previous and event_type.endswith(".updated"):
            return
    store.emit(event_type, after, previous)
