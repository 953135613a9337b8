"""Billing meters, meter events and event summaries."""

from __future__ import annotations

from typing import Any

from ..billing import usage
from ..errors import invalid
from ..forms import as_dict, as_int, require
from ..store import KEY_TTL, new_id, now, paginate
from . import Ctx, route

PAST_WINDOW = 35 * 86400
FUTURE_WINDOW = 5 * 60
_FORMULAS = {"sum", "count", "last"}
_WINDOWS = {"hour": 3600, "day": 86400}


@route("POST", "/v1/billing/meters")
def create_meter(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    event_name = require(params, "event_name")
    display_name = require(params, "display_name")
    agg = as_dict(params.get("default_aggregation"), "default_aggregation")
    formula = agg.get("formula")
    if formula not in _FORMULAS:
        raise invalid("default_aggregation[formula] must be one of sum, count, last.",
                      param="default_aggregation[formula]")
    for other in ctx.store.collection("billing.meter").values():
        if other["event_name"] == event_name and other["status"] == "active":
            raise invalid(f"An active meter with event_name `{event_name}` already exists.",
                          param="event_name")
    mapping = as_dict(params.get("customer_mapping"), "customer_mapping")
    value_settings = as_dict(params.get("value_settings"), "value_settings")
    meter = {
        "id": new_id("mtr", 24),
        "object": "billing.meter",
        "created": now(),
        "customer_mapping": {
            "event_payload_key": mapping.get("event_payload_key") or "stripe_customer_id",
            "type": mapping.get("type") or "by_id",
        },
        "default_aggregation": {"formula": formula},
        "display_name": display_name,
        "event_name": event_name,
        "event_time_window": params.get("event_time_window") or None,
        "livemode": False,
        "status": "active",
        "status_transitions": {"deactivated_at": None},
        "updated": now(),
        "value_settings": {"event_payload_key": value_settings.get("event_payload_key")
                           or "value"},
    }
    ctx.store.add(meter)
    return meter


@route("GET", "/v1/billing/meters/{id}")
def retrieve_meter(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    return ctx.store.get("billing.meter", id)


@route("POST", "/v1/billing/meters/{id}")
def update_meter(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    meter = ctx.store.get("billing.meter", id)
    if params.get("display_name"):
        meter["display_name"] = params["display_name"]
        meter["updated"] = now()
    return meter


@route("POST", "/v1/billing/meters/{id}/deactivate")
def deactivate_meter(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    meter = ctx.store.get("billing.meter", id)
    meter["status"] = "inactive"
    meter["status_transitions"]["deactivated_at"] = meter["updated"] = now()
    return meter


@route("POST", "/v1/billing/meters/{id}/reactivate")
def reactivate_meter(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    meter = ctx.store.get("billing.meter", id)
    meter["status"] = "active"
    meter["updated"] = now()
    return meter


@route("GET", "/v1/billing/meters")
def list_meters(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    rows = ctx.store.all("billing.meter")
    if params.get("status"):
        rows = [m for m in rows if m["status"] == params["status"]]
    return paginate(rows, params, "/v1/billing/meters")


@route("POST", "/v1/billing/meter_events")
def create_meter_event(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    store = ctx.store
    event_name = require(params, "event_name")
    payload = as_dict(require(params, "payload"), "payload")
    meter = next((m for m in store.collection("billing.meter").values()
                  if m["event_name"] == event_name and m["status"] == "active"), None)
    if meter is None:
        raise invalid(f"No active meter found for event_name `{event_name}`.",
                      param="event_name", code="no_meter")
    identifier = params.get("identifier") or new_id("mev", 20)
    current = now()
    earlier = store.meter_identifiers.get(identifier)
    if earlier is not None and current - earlier["created"] < KEY_TTL:
        raise invalid(f"An event already exists with identifier {identifier}.",
                      param="identifier")
    timestamp = as_int(params.get("timestamp"), "timestamp", current)
    assert timestamp is not None
    if timestamp < current - PAST_WINDOW:
        raise invalid("Timestamp must be within the past 35 calendar days.",
                      param="timestamp", code="timestamp_too_far_in_past")
    if timestamp > current + FUTURE_WINDOW:
        raise invalid("Timestamp must not be more than 5 minutes in the future.",
                      param="timestamp", code="timestamp_in_future")
    cust_key = meter["customer_mapping"]["event_payload_key"]
    customer = payload.get(cust_key)
    if not customer:
        raise invalid(f"Missing payload[{cust_key}].", param=f"payload[{cust_key}]",
                      code="meter_event_no_customer_defined")
    if customer not in store.collection("customer"):
        raise invalid(f"No such customer: '{customer}'", param=f"payload[{cust_key}]",
                      code="meter_event_customer_not_found")
    value_key = meter["value_settings"]["event_payload_key"]
    raw_value = payload.get(value_key)
    if meter["default_aggregation"]["formula"] == "count" and raw_value in (None, ""):
        raw_value = "1"
    try:
        value = int(str(raw_value))
    except ValueError:
        raise invalid(f"payload[{value_key}] must be an integer, got {raw_value!r}.",
                      param=f"payload[{value_key}]", code="meter_event_invalid_value") from None
    store.add_meter_event({
        "seq": len(store.meter_events), "identifier": identifier, "event_name": event_name,
        "meter": meter["id"], "customer": customer, "value": value, "timestamp": timestamp,
        "created": current,
    })
    return {
        "object": "billing.meter_event",
        "created": current,
        "event_name": event_name,
        "identifier": identifier,
        "livemode": False,
        "payload": {k: str(v) for k, v in payload.items()},
        "timestamp": timestamp,
    }


@route("POST", "/v1/billing/meter_event_adjustments")
def create_meter_event_adjustment(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    """Cancel one meter event by its identifier, within 24 hours of its receipt (Stripe's
    only adjustment type). Stripe answers `pending` and applies it asynchronously; here an
    event found is no longer counted from this answer on, and one not found changes
    nothing."""
    event_name = require(params, "event_name")
    if require(params, "type") != "cancel":
        raise invalid("type must be cancel.", param="type")
    identifier = as_dict(require(params, "cancel"), "cancel").get("identifier")
    if not identifier:
        raise invalid("Missing required param: cancel[identifier].",
                      param="cancel[identifier]", code="parameter_missing")
    event = ctx.store.meter_identifiers.get(identifier)
    if event is not None and event["event_name"] == event_name \
            and now() - event["created"] < KEY_TTL:
        event["canceled"] = True
    return {"object": "billing.meter_event_adjustment", "livemode": False, "status": "pending",
            "event_name": event_name, "type": "cancel", "cancel": {"identifier": identifier}}


@route("GET", "/v1/billing/meters/{id}/event_summaries")
def event_summaries(ctx: Ctx, params: dict[str, Any], id: str) -> dict[str, Any]:
    meter = ctx.store.get("billing.meter", id)
    customer = require(params, "customer")
    start = as_int(require(params, "start_time"), "start_time")
    end = as_int(require(params, "end_time"), "end_time")
    assert start is not None and end is not None
    if end <= start:
        raise invalid("end_time must be after start_time.", param="end_time")
    window = params.get("value_grouping_window")
    if window and window not in _WINDOWS:
        raise invalid("value_grouping_window must be hour or day.",
                      param="value_grouping_window")
    step = _WINDOWS[window] if window else end - start
    bounds = []
    t = start
    while t < end:
        bounds.append((t, min(t + step, end)))
        t += step
    rows = []
    for s, e in reversed(bounds):
        value = usage(ctx.store, meter["id"], customer, s, e)
        rows.append({
            "id": f"mtrusg_{meter['id'][4:14]}{s}",
            "object": "billing.meter_event_summary",
            "aggregated_value": float(value),
            "end_time": e,
            "livemode": False,
            "meter": meter["id"],
            "start_time": s,
        })
    return paginate(rows, params, f"/v1/billing/meters/{id}/event_summaries")
