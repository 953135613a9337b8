"""Test-only control endpoints under ``/_emulator/`` (no API key needed)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import cards, lifecycle, period_end
from .errors import StripeError, invalid
from .forms import as_bool, as_int, decode_form
from .store import frozen_at, new_id, now
from .views import render


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, indent=2), status_code=status,
                    media_type="application/json")


async def _params(request: Request) -> dict[str, Any]:
    raw = (await request.body()).decode("utf-8")
    params = decode_form(request.url.query)
    if raw.strip().startswith("{"):
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise invalid("Expected a JSON object.")
        params.update({k: v for k, v in data.items()})
    elif raw:
        params.update(decode_form(raw))
    return params


def _endpoint(fn):
    async def endpoint(request: Request) -> Response:
        state = request.app.state.emulator
        try:
            params = await _params(request)
            with state.store.lock:
                result = fn(state, params, **request.path_params)
                if request.method != "GET":
                    state.store.save()
            return _json(result)
        except StripeError as exc:
            return _json(exc.body(), exc.status)
        except json.JSONDecodeError as exc:
            return _json(invalid(f"Invalid JSON: {exc}").body(), 400)

    return endpoint


def health(state, params):
    return {"status": "ok"}


def reset(state, params):
    state.dispatcher.clear()
    state.store.reset()
    state.faults.configure({"reset": True})
    state.faults.clear_counts()
    return {"reset": True}


def close_period(state, params, sub_id):
    """Close the current period now (or at ``at``). ``draft=true`` leaves the renewal invoice
    a draft that finalizes by Stripe's rules; otherwise it is finalized and charged at once."""
    store = state.store
    sub = store.get("subscription", sub_id)
    with frozen_at(store.clock_time(sub["customer"])):
        # By default a second after now, and after the period's start: two closes within one
        # second (a fast test) still close two periods.
        start = sub["items"]["data"][0]["current_period_start"]
        at = as_int(params.get("at"), "at", max(now(), start) + 1)
        draft = bool(as_bool(params.get("draft"), "draft"))
        invoice = lifecycle.close_period(store, sub, at, state.public_url, draft=draft)
    return {"invoice": render(store, invoice), "subscription": render(store, sub)}


def get_faults(state, params):
    return {"faults": state.faults.configure({})}


def set_faults(state, params):
    """Change injected latency/429/5xx/timeouts (any subset; ``reset: true`` clears all)."""
    return {"faults": state.faults.configure(params)}


def requests_made(state, params):
    """API calls by endpoint (``METHOD /path``) and the faults injected into them."""
    return state.faults.report()


def clear_requests(state, params):
    state.faults.clear_counts()
    return state.faults.report()


def settings(state, params):
    """Account settings: ``finalization_grace_seconds`` (0 to 72 h, default 1 h)."""
    if "finalization_grace_seconds" in params:
        period_end.set_grace(state.store, params["finalization_grace_seconds"])
    return {"finalization_grace_seconds": period_end.grace(state.store)}


def resend_event(state, params, event_id):
    """Deliver an event to the webhook endpoint again."""
    event = state.store.get("event", event_id)
    state.dispatcher.resend(event)
    return {"event": event_id, "resent": bool(state.dispatcher.url)}


def bulk_customers(state, params):
    """Create ``count`` bare customers at once (for benchmarks); returns their ids."""
    count = as_int(params.get("count"), "count", 1)
    assert count is not None
    if not 1 <= count <= 1_000_000:
        raise invalid("count must be between 1 and 1,000,000.", param="count")
    created, ids = now(), []
    customers = state.store.collection("customer")
    for _ in range(count):
        cid = new_id("cus", 14)
        customers[cid] = {"id": cid, "object": "customer", "created": created, "email": None,
                          "metadata": {}, "invoice_prefix": cid[4:12].upper(),
                          "invoice_settings": {"default_payment_method": None},
                          "test_clock": None, "livemode": False}
        ids.append(cid)
    return {"ids": ids}


def set_card(state, params, customer_id):
    number = cards.normalize(str(params.get("card") or params.get("number") or ""))
    problem = cards.validate(number)
    if problem:
        raise invalid(problem, param="card")
    state.store.get("customer", customer_id)
    return cards.set_default_card(state.store, customer_id, number)


def pay_invoice(state, params, invoice_id):
    invoice = state.store.get("invoice", invoice_id)
    return lifecycle.pay_invoice(state.store, invoice)


def deliveries(state, params):
    rows = [{k: v for k, v in d.items() if k != "payload"} for d in state.store.deliveries]
    if params.get("type"):
        rows = [d for d in rows if d["type"] == params["type"]]
    return {"object": "list", "data": rows}


def configure_webhook(state, params):
    """Change the webhook URL and/or secret at runtime."""
    if "url" in params:
        state.dispatcher.url = params["url"] or None
    if params.get("secret"):
        state.dispatcher.secret = params["secret"]
    return {"url": state.dispatcher.url}


def meter_events(state, params):
    rows = list(state.store.meter_events)
    if params.get("customer"):
        rows = [e for e in rows if e["customer"] == params["customer"]]
    return {"object": "list", "data": rows}


def routes() -> list[Route]:
    return [
        Route("/_emulator/health", _endpoint(health), methods=["GET"]),
        Route("/_emulator/reset", _endpoint(reset), methods=["POST"]),
        Route("/_emulator/subscriptions/{sub_id}/close_period", _endpoint(close_period),
              methods=["POST"]),
        Route("/_emulator/customers/{customer_id}/card", _endpoint(set_card), methods=["POST"]),
        Route("/_emulator/invoices/{invoice_id}/pay", _endpoint(pay_invoice), methods=["POST"]),
        Route("/_emulator/webhook_deliveries", _endpoint(deliveries), methods=["GET"]),
        Route("/_emulator/webhook", _endpoint(configure_webhook), methods=["POST"]),
        Route("/_emulator/meter_events", _endpoint(meter_events), methods=["GET"]),
        Route("/_emulator/faults", _endpoint(get_faults), methods=["GET"]),
        Route("/_emulator/faults", _endpoint(set_faults), methods=["POST"]),
        Route("/_emulator/requests", _endpoint(requests_made), methods=["GET"]),
        Route("/_emulator/requests/clear", _endpoint(clear_requests), methods=["POST"]),
        Route("/_emulator/settings", _endpoint(settings), methods=["GET", "POST"]),
        Route("/_emulator/events/{event_id}/resend", _endpoint(resend_event), methods=["POST"]),
        Route("/_emulator/customers/bulk", _endpoint(bulk_customers), methods=["POST"]),
    ]
