"""One-off invoice items, invoices of their own, invoice payments and refunds.

(Finalizing a draft is `POST /v1/invoices/{id}/finalize` in ``invoices``.)

Pending invoice items of a customer land on the customer's next invoice (a subscription's
renewal or final invoice), or on an invoice created with
``pending_invoice_items_behavior=include``, as Stripe does.
"""

from __future__ import annotations

from typing import Any

from .. import billing
from ..errors import invalid
from ..forms import as_bool, as_int, merge_metadata, require
from ..store import Store, new_id, now, paginate
from . import Ctx, route


def _line(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": new_id("il"),
        "object": "line_item",
        "amount": item["amount"],
        "currency": item["currency"],
        "description": item["description"],
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": None,
        "livemode": False,
        "metadata": dict(item["metadata"]),
        "parent": {
            "type": "invoice_item_details",
            "invoice_item_details": {"invoice_item": item["id"], "proration": False,
                                     "proration_details": {"credited_items": None},
                                     "subscription": None},
            "subscription_item_details": None,
        },
        "period": dict(item["period"]),
        "pretax_credit_amounts": [],
        "pricing": {"type": "price_details",
                    "price_details": {"price": None, "product": None},
                    "unit_amount_decimal": str(item["amount"])},
        "quantity": 1,
        "quantity_decimal": "1",
        "subtotal": item["amount"],
        "taxes": [],
    }


def pending_item_lines(store: Store, customer_id: str) -> list[dict[str, Any]]:
    """Lines for the customer's pending items (they stay pending until ``attach``)."""
    return [_line(i) for i in store.all("invoiceitem")[::-1]
            if i["customer"] == customer_id and i["invoice"] is None]


def attach(store: Store, invoice: dict[str, Any]) -> None:
    """Mark the items whose lines are on ``invoice`` as invoiced."""
    for line in invoice["lines"]["data"]:
        details = (line.get("parent") or {}).get("invoice_item_details") or {}
        item = store.collection("invoiceitem").get(details.get("invoice_item") or "")
        if item is not None:
            item["invoice"] = invoice["id"]


@route("POST", "/v1/invoiceitems")
def create_item(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    customer = ctx.store.get("customer", require(params, "customer"), param="customer")
    amount = as_int(require(params, "amount"), "amount")
    period = params.get("period") or {}
    start = as_int(period.get("start"), "period[start]", now())
    item = {
        "id": new_id("ii"),
        "object": "invoiceitem",
        "amount": amount,
        "currency": params.get("currency") or billing.CURRENCY,
        "customer": customer["id"],
        "date": now(),
        "description": params.get("description") or None,
        "discountable": True,
        "invoice": None,
        "livemode": False,
        "metadata": merge_metadata({}, params.get("metadata")),
        "period": {"start": start, "end": as_int(period.get("end"), "period[end]", start)},
        "quantity": 1,
    }
    ctx.store.add(item)
    ctx.store.emit("invoiceitem.created", item)
    return item


@route("GET", "/v1/invoiceitems")
def list_items(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    rows = ctx.store.all("invoiceitem")
    if params.get("customer"):
        rows = [i for i in rows if i["customer"] == params["customer"]]
    if "pending" in params:
        pending = as_bool(params["pending"], "pending")
        rows = [i for i in rows if (i["invoice"] is None) == pending]
    return paginate(rows, params, "/v1/invoiceitems")


@route("POST", "/v1/invoices")
def create_invoice(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    """A one-off draft invoice; ``pending_invoice_items_behavior=include`` takes the
    customer's pending items."""
    store = ctx.store
    customer = store.get("customer", require(params, "customer"), param="customer")
    behavior = params.get("pending_invoice_items_behavior") or "exclude"
    if behavior not in ("include", "exclude"):
        raise invalid("Invalid pending_invoice_items_behavior",
                      param="pending_invoice_items_behavior")
    lines = pending_item_lines(store, customer["id"]) if behavior == "include" else []
    holder = {"id": None, "customer": customer["id"], "metadata": {}}
    at = now()
    invoice = billing.build_invoice(store, holder, lines, (at, at), "manual", ctx.public_url)
    invoice["parent"] = None
    invoice["description"] = params.get("description") or None
    invoice["metadata"] = merge_metadata({}, params.get("metadata"))
    invoice["auto_advance"] = bool(as_bool(params.get("auto_advance"), "auto_advance"))
    store.add(invoice)
    attach(store, invoice)
    store.emit("invoice.created", invoice)
    return invoice


def _payment(invoice: dict[str, Any]) -> dict[str, Any]:
    suffix = invoice["id"].split("_", 1)[1]
    paid = invoice["status"] == "paid"
    return {
        "id": f"inpay_{suffix}",
        "object": "invoice_payment",
        "amount_paid": invoice["amount_paid"] if paid else None,
        "amount_requested": invoice["amount_due"],
        "created": invoice["created"],
        "currency": invoice["currency"],
        "invoice": invoice["id"],
        "is_default": True,
        "livemode": False,
        "payment": {"type": "payment_intent", "payment_intent": f"pi_{suffix}"},
        "status": "paid" if paid else "open",
        "status_transitions": {"canceled_at": None,
                               "paid_at": invoice["status_transitions"]["paid_at"]},
    }


@route("GET", "/v1/invoice_payments")
def list_invoice_payments(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    rows = [i for i in ctx.store.all("invoice") if i["status"] in ("open", "paid")
            and i["amount_due"] > 0]
    if params.get("invoice"):
        rows = [i for i in rows if i["id"] == params["invoice"]]
    return paginate([_payment(i) for i in rows], params, "/v1/invoice_payments")


@route("POST", "/v1/refunds")
def create_refund(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    """Refund a paid invoice's payment (by its payment intent), in full or in part."""
    store = ctx.store
    intent = require(params, "payment_intent")
    invoice = next((i for i in store.all("invoice")
                    if f"pi_{i['id'].split('_', 1)[1]}" == intent), None)
    if invoice is None or invoice["status"] != "paid":
        raise invalid(f"No such payment_intent: '{intent}'", param="payment_intent",
                      code="resource_missing", status=404)
    refunded = sum(r["amount"] for r in store.all("refund") if r["payment_intent"] == intent)
    amount = as_int(params.get("amount"), "amount", invoice["amount_paid"] - refunded)
    if amount <= 0 or refunded + amount > invoice["amount_paid"]:
        raise invalid(f"Charge for {intent} has already been refunded.",
                      code="charge_already_refunded")
    refund = {"id": new_id("re"), "object": "refund", "amount": amount,
              "currency": invoice["currency"], "created": now(), "payment_intent": intent,
              "metadata": merge_metadata({}, params.get("metadata")), "status": "succeeded",
              "reason": params.get("reason") or None}
    store.add(refund)
    store.emit("refund.created", refund)
    return refund


@route("GET", "/v1/refunds")
def list_refunds(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    rows = ctx.store.all("refund")
    if params.get("payment_intent"):
        rows = [r for r in rows if r["payment_intent"] == params["payment_intent"]]
    return paginate(rows, params, "/v1/refunds")
