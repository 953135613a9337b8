"""Subscriptions and subscription items."""

from __future__ import annotations

from typing import Any

from .. import lifecycle
from ..billing import subscription_event
from ..errors import invalid
from ..forms import as_bool, as_int, merge_metadata, require
from ..store import paginate
from ..views import render
from . import Ctx, route

_PRORATION = {"create_prorations", "none", "always_invoice"}
_STATUSES = {"active", "past_due", "unpaid", "canceled", "incomplete", "incomplete_expired",
             "trialing", "paused", "all", "ended"}


@route("POST", "/v1/subscriptions")
def create_subscription(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    sub = lifecycle.create_subscription(
        ctx.store,
        require(params, "customer"),
        lifecycle.item_specs(params.get("items")),
        metadata=merge_metadata({}, params.get("metadata")),
        anchor=as_int(params.get("billing_cycle_anchor"), "billing_cycle_anchor"),
        default_payment_method=params.get("default_payment_method") or None,
        payment_behavior=params.get("payment_behavior") or "allow_incomplete",
        public_url=ctx.public_url,
    )
    if as_bool(params.get("cancel_at_period_end"), "cancel_at_period_end"):
        lifecycle.set_cancel_at_period_end(sub, True)
    return render(ctx.store, sub)


@route("GET", "/v1/subscriptions/{sub}")
def retrieve_subscription(ctx: Ctx, params: dict[str, Any], sub: str) -> dict[str, Any]:
    return render(ctx.store, ctx.store.get("subscription", sub))


@route("POST", "/v1/subscriptions/{sub}")
def update_subscription(ctx: Ctx, params: dict[str, Any], sub: str) -> dict[str, Any]:
    store = ctx.store
    obj = store.get("subscription", sub)
    if obj["status"] == "canceled" and set(params) - {"metadata", "cancellation_details",
                                                       "expand"}:
        raise invalid("A canceled subscription can only update its cancellation_details and "
                      "metadata.")
    behavior = params.get("proration_behavior") or "create_prorations"
    if behavior not in _PRORATION:
        raise invalid("Invalid proration_behavior", param="proration_behavior")
    before = render(store, obj)
    if params.get("items") is not None:
        lifecycle.update_items(store, obj, lifecycle.item_specs(params["items"]), behavior,
                               ctx.public_url)
    if "cancel_at_period_end" in params:
        lifecycle.set_cancel_at_period_end(
            obj, bool(as_bool(params["cancel_at_period_end"], "cancel_at_period_end")))
    if "default_payment_method" in params:
        pm = params["default_payment_method"] or None
        if pm:
            store.get("payment_method", pm, param="default_payment_method")
        obj["default_payment_method"] = pm
    if "description" in params:
        obj["description"] = params["description"] or None
    obj["metadata"] = merge_metadata(obj["metadata"], params.get("metadata"))
    subscription_event(store, obj, before, "customer.subscription.updated")
    return render(store, obj)


@route("DELETE", "/v1/subscriptions/{sub}")
def cancel_subscription(ctx: Ctx, params: dict[str, Any], sub: str) -> dict[str, Any]:
    obj = ctx.store.get("subscription", sub)
    lifecycle.cancel_now(ctx.store, obj, ctx.public_url,
                         invoice_now=bool(as_bool(params.get("invoice_now"), "invoice_now")),
                         prorate=bool(as_bool(params.get("prorate"), "prorate")))
    return render(ctx.store, obj)


@route("GET", "/v1/subscriptions")
def list_subscriptions(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    rows = ctx.store.all("subscription")
    status = params.get("status")
    if status and status not in _STATUSES:
        raise invalid("Invalid status", param="status")
    if not status:
        rows = [s for s in rows if s["status"] not in ("canceled", "incomplete_expired")]
    elif status == "ended":
        rows = [s for s in rows if s["status"] in ("canceled", "incomplete_expired")]
    elif status != "all":
        rows = [s for s in rows if s["status"] == status]
    if params.get("customer"):
        rows = [s for s in rows if s["customer"] == params["customer"]]
    if params.get("price"):
        rows = [s for s in rows if any(i["price"] == params["price"]
                                       for i in s["items"]["data"])]
    return paginate([render(ctx.store, s) for s in rows], params, "/v1/subscriptions")


def _find_item(ctx: Ctx, item_id: str) -> dict[str, Any]:
    for sub in ctx.store.collection("subscription").values():
        for item in sub["items"]["data"]:
            if item["id"] == item_id:
                return item
    raise invalid(f"No such subscription_item: '{item_id}'", param="id",
                  code="resource_missing", status=404)


@route("GET", "/v1/subscription_items/{item}")
def retrieve_item(ctx: Ctx, params: dict[str, Any], item: str) -> dict[str, Any]:
    return render(ctx.store, _find_item(ctx, item))


@route("GET", "/v1/subscription_items")
def list_items(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    sub = ctx.store.get("subscription", require(params, "subscription"), param="subscription")
    return paginate([render(ctx.store, i) for i in sub["items"]["data"]], params,
                    "/v1/subscription_items")
