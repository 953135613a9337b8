"""Invoices, the upcoming-invoice preview, and events."""

from __future__ import annotations

from typing import Any

from .. import billing, lifecycle, period_end
from ..errors import invalid
from ..forms import as_list
from ..store import now, paginate
from . import Ctx, route


@route("GET", "/v1/invoices/{invoice}")
def retrieve_invoice(ctx: Ctx, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    inv = ctx.store.get("invoice", invoice)
    if inv["status"] == "draft":
        billing.refresh_metered_lines(ctx.store, inv)  # a draft shows the meters' totals
    return inv


@route("POST", "/v1/invoices/{invoice}/finalize")
def finalize_invoice(ctx: Ctx, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    """Finalize a draft now (and charge it when it is collected automatically)."""
    inv = ctx.store.get("invoice", invoice)
    period_end.finalize_draft(ctx.store, inv)
    return inv


@route("GET", "/v1/invoices/{invoice}/lines")
def list_lines(ctx: Ctx, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    inv = ctx.store.get("invoice", invoice)
    return paginate(inv["lines"]["data"], params, f"/v1/invoices/{invoice}/lines")


@route("GET", "/v1/invoices")
def list_invoices(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    rows = ctx.store.all("invoice")
    if params.get("customer"):
        rows = [i for i in rows if i["customer"] == params["customer"]]
    if params.get("subscription"):
        rows = [i for i in rows
                if billing.invoice_subscription_id(i) == params["subscription"]]
    if params.get("status"):
        rows = [i for i in rows if i["status"] == params["status"]]
    return paginate(rows, params, "/v1/invoices")


@route("POST", "/v1/invoices/{invoice}/pay")
def pay_invoice(ctx: Ctx, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    return lifecycle.pay_invoice(ctx.store, ctx.store.get("invoice", invoice))


@route("POST", "/v1/invoices/create_preview")
def create_preview(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    """The next invoice the subscription will produce, as of now."""
    store = ctx.store
    sub_id = params.get("subscription")
    customer = params.get("customer")
    if not sub_id:
        if not customer:
            raise invalid("Missing required param: customer or subscription.",
                          param="subscription", code="parameter_missing")
        store.get("customer", customer, param="customer")
        subs = [s for s in store.all("subscription")
                if s["customer"] == customer and s["status"] != "canceled"]
        if not subs:
            raise invalid(f"No upcoming invoices for customer: {customer}",
                          code="invoice_upcoming_none")
        sub_id = subs[0]["id"]
    sub = store.get("subscription", sub_id, param="subscription")
    if customer and sub["customer"] != customer:
        raise invalid("The subscription does not belong to the customer.", param="subscription")
    if sub["status"] == "canceled":
        raise invalid(f"No upcoming invoices for subscription: {sub_id}",
                      code="invoice_upcoming_none")
    data = sub["items"]["data"]
    start, end = data[0]["current_period_start"], data[0]["current_period_end"]
    lines = billing.metered_lines(store, sub, start, min(now() + 1, end))
    for line in lines:
        line["period"]["end"] = end
    lines = [dict(line) for line in store.pending_lines.get(sub["id"], [])] + lines
    if not sub["cancel_at_period_end"]:
        first = store.get("price", data[0]["price"])
        rec = billing.recurring_of(first)
        next_end = billing.add_interval(end, rec.get("interval", "month"),
                                        int(rec.get("interval_count", 1)),
                                        sub["billing_cycle_anchor"])
        lines = billing.licensed_lines(store, sub, (end, next_end)) + lines
    invoice = billing.build_invoice(store, sub, lines, (start, end), "upcoming",
                                    ctx.public_url, preview=True)
    invoice["next_payment_attempt"] = end
    invoice["automatically_finalizes_at"] = end + 3600
    return invoice


@route("GET", "/v1/events/{id}")
def retrieve_event(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    return ctx.store.get("event", id)


@route("GET", "/v1/events")
def list_events(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    rows = ctx.store.all("event")
    types = as_list(params.get("types"))
    if params.get("type"):
        wanted = params["type"]
        if wanted.endswith("*"):
            rows = [e for e in rows if e["type"].startswith(wanted[:-1])]
        else:
            rows = [e for e in rows if e["type"] == wanted]
    if types:
        rows = [e for e in rows if e["type"] in types]
    created = params.get("created")
    if isinstance(created, dict):
        for op, test in (("gt", int.__gt__), ("gte", int.__ge__), ("lt", int.__lt__),
                         ("lte", int.__le__)):
            if created.get(op):
                bound = int(created[op])
                rows = [e for e in rows if test(e["created"], bound)]
    return paginate(rows, params, "/v1/events")
