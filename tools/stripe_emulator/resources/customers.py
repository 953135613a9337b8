"""Customers and payment methods."""

from __future__ import annotations

import contextlib
import re
import secrets
from typing import Any

from ..errors import invalid
from ..forms import as_dict, merge_metadata
from ..store import frozen_at, new_id, now, paginate
from . import Ctx, route

_SEARCH_TERM = re.compile(r"(\w+)(?:\['([^']+)'\])?\s*:\s*'([^']*)'")


@route("POST", "/v1/customers")
def create_customer(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    clock_id = params.get("test_clock") or None
    if clock_id:
        clock = ctx.store.get("test_helpers.test_clock", clock_id, param="test_clock")
        context = frozen_at(clock["frozen_time"])
    else:
        context = contextlib.nullcontext()
    with context:
        return _create_customer(ctx, params, clock_id)


def _create_customer(ctx: Ctx, params: dict[str, Any], clock_id: str | None) -> dict[str, Any]:
    customer = {
        "id": new_id("cus", 14),
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": params.get("description") or None,
        "discount": None,
        "email": params.get("email") or None,
        "invoice_prefix": secrets.token_hex(4).upper(),
        "invoice_settings": {"custom_fields": None, "default_payment_method": None,
                             "footer": None, "rendering_options": None},
        "livemode": False,
        "metadata": merge_metadata({}, params.get("metadata")),
        "name": params.get("name") or None,
        "next_invoice_sequence": 1,
        "phone": params.get("phone") or None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": clock_id,
    }
    _apply_invoice_settings(ctx, customer, params)
    ctx.store.add(customer)
    ctx.store.emit("customer.created", customer)
    return customer


def _apply_invoice_settings(ctx: Ctx, customer: dict[str, Any], params: dict[str, Any]) -> None:
    settings = as_dict(params.get("invoice_settings"), "invoice_settings")
    if "default_payment_method" in settings:
        pm_id = settings["default_payment_method"] or None
        if pm_id:
            pm = ctx.store.get("payment_method", pm_id,
                               param="invoice_settings[default_payment_method]")
            if pm["customer"] not in (None, customer["id"]):
                raise invalid("The payment method must be attached to the customer.",
                              param="invoice_settings[default_payment_method]")
        customer["invoice_settings"]["default_payment_method"] = pm_id


@route("GET", "/v1/customers/search")
def search_customers(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    query = params.get("query") or ""
    terms = _SEARCH_TERM.findall(query)
    if not terms:
        raise invalid("Invalid search query.", param="query")

    def matches(c: dict[str, Any]) -> bool:
        for field, key, value in terms:
            actual = c.get("metadata", {}).get(key) if field == "metadata" else c.get(field)
            if actual != value:
                return False
        return True

    rows = [c for c in ctx.store.all("customer") if matches(c)]
    limit = int(params.get("limit") or 10)
    return {"object": "search_result", "data": rows[:limit], "has_more": len(rows) > limit,
            "next_page": None, "url": "/v1/customers/search"}


@route("GET", "/v1/customers/{customer}")
def retrieve_customer(ctx: Ctx, params: dict[str, Any], customer: str) -> dict[str, Any]:
    return ctx.store.get("customer", customer)


@route("POST", "/v1/customers/{customer}")
def update_customer(ctx: Ctx, params: dict[str, Any], customer: str) -> dict[str, Any]:
    obj = ctx.store.get("customer", customer)
    before = {k: obj[k] for k in ("email", "name", "description", "phone", "metadata")}
    before["invoice_settings"] = dict(obj["invoice_settings"])
    for field in ("email", "name", "description", "phone"):
        if field in params:
            obj[field] = params[field] or None
    obj["metadata"] = merge_metadata(obj["metadata"], params.get("metadata"))
    _apply_invoice_settings(ctx, obj, params)
    previous = {k: v for k, v in before.items() if obj[k] != v}
    if previous:
        ctx.store.emit("customer.updated", obj, previous)
    return obj


@route("GET", "/v1/customers")
def list_customers(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    rows = ctx.store.all("customer")
    if params.get("email"):
        rows = [c for c in rows if c.get("email") == params["email"]]
    return paginate(rows, params, "/v1/customers")


@route("GET", "/v1/payment_methods/{payment_method}")
def retrieve_payment_method(ctx: Ctx, params: dict[str, Any],
                            payment_method: str) -> dict[str, Any]:
    return ctx.store.get("payment_method", payment_method)


@route("GET", "/v1/payment_methods")
def list_payment_methods(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    rows = ctx.store.all("payment_method")
    if params.get("customer"):
        rows = [p for p in rows if p["customer"] == params["customer"]]
    return paginate(rows, params, "/v1/payment_methods")


@route("GET", "/v1/customers/{customer}/payment_methods")
def list_customer_payment_methods(ctx: Ctx, params: dict[str, Any],
                                  customer: str) -> dict[str, Any]:
    ctx.store.get("customer", customer)
    rows = [p for p in ctx.store.all("payment_method") if p["customer"] == customer]
    return paginate(rows, params, f"/v1/customers/{customer}/payment_methods")
