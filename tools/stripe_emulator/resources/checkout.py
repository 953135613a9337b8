"""Checkout Sessions and Billing Portal sessions."""

from __future__ import annotations

from typing import Any

from .. import billing
from ..errors import invalid
from ..forms import as_dict, as_int, as_list, merge_metadata, require
from ..store import new_id, now, paginate
from ..views import expand
from . import Ctx, route


def session_line_items(ctx: Ctx, session: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for spec in session["_line_items"]:
        price = ctx.store.get("price", spec["price"])
        qty = spec.get("quantity")
        amount = 0 if billing.is_metered(price) else billing.cents(
            billing.unit_decimal(price) * (qty or 1))
        product = ctx.store.collection("product").get(price["product"]) or {}
        rows.append({
            "id": spec["id"], "object": "item", "amount_discount": 0,
            "amount_subtotal": amount, "amount_tax": 0, "amount_total": amount,
            "currency": price["currency"], "description": product.get("name"),
            "price": price, "quantity": qty,
        })
    return {"object": "list", "data": rows, "has_more": False,
            "url": f"/v1/checkout/sessions/{session['id']}/line_items"}


def _line_item_specs(ctx: Ctx, params: dict[str, Any]) -> list[dict[str, Any]]:
    specs = []
    for idx, raw in enumerate(as_list(require(params, "line_items"))):
        spec = as_dict(raw, f"line_items[{idx}]")
        price = ctx.store.get("price", spec.get("price"), param=f"line_items[{idx}][price]")
        if not price["active"]:
            raise invalid(f"The price `{price['id']}` is not active.",
                          param=f"line_items[{idx}][price]")
        qty = as_int(spec.get("quantity"), f"line_items[{idx}][quantity]")
        if billing.is_metered(price):
            if qty is not None:
                raise invalid("Quantity should not be specified where usage_type is "
                              "`metered`.", param=f"line_items[{idx}][quantity]")
        elif qty is None:
            qty = 1
        specs.append({"id": new_id("li"), "price": price["id"], "quantity": qty})
    return specs


@route("POST", "/v1/checkout/sessions")
def create_session(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    mode = params.get("mode") or "payment"
    if mode != "subscription":
        raise invalid("The emulator supports only mode=subscription.", param="mode")
    customer = params.get("customer") or None
    if customer:
        ctx.store.get("customer", customer, param="customer")
    specs = _line_item_specs(ctx, params)
    sub_data = as_dict(params.get("subscription_data"), "subscription_data")
    cs_id = new_id("cs_test", 58)
    success_url = require(params, "success_url").replace("{CHECKOUT_SESSION_ID}", cs_id)
    amount = sum(billing.cents(billing.unit_decimal(ctx.store.get("price", s["price"]))
                               * (s["quantity"] or 0)) for s in specs)
    created = now()
    session = {
        "id": cs_id,
        "object": "checkout.session",
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": amount,
        "amount_total": amount,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None,
                          "status": None},
        "billing_address_collection": None,
        "cancel_url": params.get("cancel_url") or None,
        "client_reference_id": params.get("client_reference_id") or None,
        "client_secret": None,
        "consent": None,
        "created": created,
        "currency": "usd",
        "custom_fields": [],
        "customer": customer,
        "customer_creation": None if customer else "always",
        "customer_details": None,
        "customer_email": params.get("customer_email") or None,
        "expires_at": as_int(params.get("expires_at"), "expires_at", created + 86400),
        "invoice": None,
        "livemode": False,
        "locale": None,
        "metadata": merge_metadata({}, params.get("metadata")),
        "mode": "subscription",
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always",
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "setup_intent": None,
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": success_url,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": f"{ctx.public_url}/checkout/{cs_id}",
        "_line_items": specs,
        "_subscription_data": {
            "metadata": merge_metadata({}, sub_data.get("metadata")),
            "billing_cycle_anchor": as_int(sub_data.get("billing_cycle_anchor"),
                                           "subscription_data[billing_cycle_anchor]"),
        },
    }
    ctx.store.add(session)
    return session


def _with_line_items(ctx: Ctx, session: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    paths = as_list(params.pop("expand", None))
    out = {k: v for k, v in session.items() if not k.startswith("_")}
    if "line_items" in paths:
        out["line_items"] = session_line_items(ctx, session)
        paths.remove("line_items")
    return expand(ctx.store, out, paths)


@route("GET", "/v1/checkout/sessions/{session}")
def retrieve_session(ctx: Ctx, params: dict[str, Any], session: str) -> dict[str, Any]:
    return _with_line_items(ctx, ctx.store.get("checkout.session", session), params)


@route("GET", "/v1/checkout/sessions/{session}/line_items")
def list_session_items(ctx: Ctx, params: dict[str, Any], session: str) -> dict[str, Any]:
    return session_line_items(ctx, ctx.store.get("checkout.session", session))


@route("POST", "/v1/checkout/sessions/{session}/expire")
def expire_session(ctx: Ctx, params: dict[str, Any], session: str) -> dict[str, Any]:
    obj = ctx.store.get("checkout.session", session)
    if obj["status"] != "open":
        raise invalid(f"Only Checkout Sessions with a status in [\"open\"] can be expired. "
                      f"This Checkout Session has a status of \"{obj['status']}\".",
                      param="session")
    obj["status"] = "expired"
    obj["url"] = None
    ctx.store.emit("checkout.session.expired", _with_line_items(ctx, obj, {}))
    return _with_line_items(ctx, obj, params)


@route("GET", "/v1/checkout/sessions")
def list_sessions(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    rows = ctx.store.all("checkout.session")
    for field in ("customer", "subscription", "status", "payment_intent"):
        if params.get(field):
            rows = [s for s in rows if s.get(field) == params[field]]
    rows = [{k: v for k, v in s.items() if not k.startswith("_")} for s in rows]
    return paginate(rows, params, "/v1/checkout/sessions")


@route("POST", "/v1/billing_portal/sessions")
def create_portal_session(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    customer = ctx.store.get("customer", require(params, "customer"), param="customer")
    bps_id = new_id("bps", 24)
    session = {
        "id": bps_id,
        "object": "billing_portal.session",
        "configuration": "bpc_emulator_default",
        "created": now(),
        "customer": customer["id"],
        "flow": None,
        "livemode": False,
        "locale": None,
        "on_behalf_of": None,
        "return_url": params.get("return_url") or None,
        "url": f"{ctx.public_url}/portal/{bps_id}",
    }
    ctx.store.add(session)
    return session
