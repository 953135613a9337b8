"""Products and prices."""

from __future__ import annotations

from typing import Any

from ..errors import invalid
from ..forms import as_bool, as_decimal, as_dict, as_int, as_list, merge_metadata, require
from ..store import new_id, now, paginate
from . import Ctx, route

_INTERVALS = {"day", "week", "month", "year"}


@route("POST", "/v1/products")
def create_product(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    product = {
        "id": params.get("id") or new_id("prod", 14),
        "object": "product",
        "active": as_bool(params.get("active"), "active", True),
        "created": now(),
        "default_price": None,
        "description": params.get("description") or None,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": merge_metadata({}, params.get("metadata")),
        "name": require(params, "name"),
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": params.get("unit_label") or None,
        "updated": now(),
        "url": None,
    }
    if product["id"] in ctx.store.collection("product"):
        raise invalid("Product already exists.", param="id", code="resource_already_exists")
    ctx.store.add(product)
    ctx.store.emit("product.created", product)
    return product


@route("GET", "/v1/products/{id}")
def retrieve_product(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    return ctx.store.get("product", id)


@route("POST", "/v1/products/{id}")
def update_product(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    product = ctx.store.get("product", id)
    for field in ("name", "description", "unit_label"):
        if field in params:
            product[field] = params[field] or None
    if "active" in params:
        product["active"] = as_bool(params["active"], "active")
    product["metadata"] = merge_metadata(product["metadata"], params.get("metadata"))
    product["updated"] = now()
    ctx.store.emit("product.updated", product)
    return product


@route("GET", "/v1/products")
def list_products(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    rows = ctx.store.all("product")
    if params.get("active") not in (None, ""):
        active = as_bool(params["active"], "active")
        rows = [p for p in rows if p["active"] == active]
    ids = as_list(params.get("ids"))
    if ids:
        rows = [p for p in rows if p["id"] in ids]
    return paginate(rows, params, "/v1/products")


def _claim_lookup_key(ctx: Ctx, key: str | None, transfer: bool, price_id: str) -> None:
    if not key:
        return
    for other in ctx.store.collection("price").values():
        if other["id"] != price_id and other.get("lookup_key") == key:
            if not transfer:
                raise invalid(f"A price (`{other['id']}`) already uses that lookup key.",
                              param="lookup_key")
            other["lookup_key"] = None


@route("POST", "/v1/prices")
def create_price(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    currency = str(require(params, "currency")).lower()
    product_id = params.get("product")
    if not product_id and params.get("product_data"):
        data = as_dict(params["product_data"], "product_data")
        product_id = create_product(ctx, {"name": data.get("name"),
                                          "metadata": data.get("metadata")})["id"]
    if not product_id:
        raise invalid("Missing required param: product.", param="product",
                      code="parameter_missing")
    ctx.store.get("product", product_id, param="product")
    unit_amount = as_int(params.get("unit_amount"), "unit_amount")
    unit_decimal = as_decimal(params.get("unit_amount_decimal"), "unit_amount_decimal")
    if unit_amount is not None and unit_decimal is not None:
        raise invalid("You may only specify one of these parameters: unit_amount, "
                      "unit_amount_decimal.", param="unit_amount")
    if unit_amount is None and unit_decimal is None:
        raise invalid("Missing required param: unit_amount.", param="unit_amount",
                      code="parameter_missing")
    if unit_decimal is not None:
        unit_decimal = unit_decimal.normalize()
        if unit_decimal == unit_decimal.to_integral_value():
            unit_amount = int(unit_decimal)
    if (unit_amount or 0) < 0 or (unit_decimal or 0) < 0:
        raise invalid("unit_amount must be non-negative.", param="unit_amount")
    recurring = _recurring(ctx, as_dict(params.get("recurring"), "recurring"))
    price = {
        "id": new_id("price"),
        "object": "price",
        "active": as_bool(params.get("active"), "active", True),
        "billing_scheme": "per_unit",
        "created": now(),
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": params.get("lookup_key") or None,
        "metadata": merge_metadata({}, params.get("metadata")),
        "nickname": params.get("nickname") or None,
        "product": product_id,
        "recurring": recurring,
        "tax_behavior": params.get("tax_behavior") or "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if recurring else "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": f"{unit_decimal:f}" if unit_decimal is not None
        else str(unit_amount),
    }
    _claim_lookup_key(ctx, price["lookup_key"],
                      bool(as_bool(params.get("transfer_lookup_key"), "transfer_lookup_key")),
                      price["id"])
    ctx.store.add(price)
    ctx.store.emit("price.created", price)
    return price


def _recurring(ctx: Ctx, spec: dict[str, Any]) -> dict[str, Any] | None:
    if not spec:
        return None
    interval = spec.get("interval")
    if interval not in _INTERVALS:
        raise invalid("Invalid recurring[interval]: must be one of day, week, month, or year",
                      param="recurring[interval]")
    usage_type = spec.get("usage_type") or "licensed"
    if usage_type not in ("licensed", "metered"):
        raise invalid("Invalid recurring[usage_type]", param="recurring[usage_type]")
    meter = spec.get("meter") or None
    if usage_type == "metered" and not meter:
        raise invalid("Metered prices must be backed by a meter: pass recurring[meter].",
                      param="recurring[meter]", code="parameter_missing")
    if meter:
        if usage_type != "metered":
            raise invalid("recurring[meter] requires recurring[usage_type]=metered.",
                          param="recurring[meter]")
        ctx.store.get("billing.meter", meter, param="recurring[meter]")
    return {
        "interval": interval,
        "interval_count": as_int(spec.get("interval_count"), "recurring[interval_count]", 1),
        "meter": meter,
        "trial_period_days": None,
        "usage_type": usage_type,
    }


@route("GET", "/v1/prices/{price}")
def retrieve_price(ctx: Ctx, params: dict[str, Any], price: str) -> dict[str, Any]:
    return ctx.store.get("price", price)


@route("POST", "/v1/prices/{price}")
def update_price(ctx: Ctx, params: dict[str, Any], price: str) -> dict[str, Any]:
    obj = ctx.store.get("price", price)
    if "active" in params:
        obj["active"] = as_bool(params["active"], "active")
    if "nickname" in params:
        obj["nickname"] = params["nickname"] or None
    if "lookup_key" in params:
        key = params["lookup_key"] or None
        _claim_lookup_key(ctx, key,
                          bool(as_bool(params.get("transfer_lookup_key"), "transfer_lookup_key")),
                          obj["id"])
        obj["lookup_key"] = key
    obj["metadata"] = merge_metadata(obj["metadata"], params.get("metadata"))
    ctx.store.emit("price.updated", obj)
    return obj


@route("GET", "/v1/prices")
def list_prices(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    rows = ctx.store.all("price")
    if params.get("active") not in (None, ""):
        active = as_bool(params["active"], "active")
        rows = [p for p in rows if p["active"] == active]
    if params.get("product"):
        rows = [p for p in rows if p["product"] == params["product"]]
    if params.get("type"):
        rows = [p for p in rows if p["type"] == params["type"]]
    if params.get("currency"):
        rows = [p for p in rows if p["currency"] == params["currency"]]
    keys = as_list(params.get("lookup_keys"))
    if keys:
        rows = [p for p in rows if p.get("lookup_key") in keys]
    return paginate(rows, params, "/v1/prices")
