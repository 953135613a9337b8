"""`POST /api/billing/webhook`: Stripe's events, verified on the raw body.

400 when the signature is missing or wrong; 200 `{"received": true}` once the event is stored
and processed (or was already, or is of a type we don't handle); 500 when processing failed,
so Stripe delivers it again.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aether_web.api.responses import error_response, from_error
from aether_web.errors import InvalidInput
from aether_web.integrations.stripe import get_gateway, verify_event
from aether_web.services.stripe_events import receive_event
from aether_web.settings import get_settings

MAX_BODY_BYTES = 1_000_000


async def stripe_webhook(request: Request) -> JSONResponse:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        return error_response(413, "payload_too_large", "The webhook body is too large.")
    try:
        event = verify_event(raw, request.headers.get("stripe-signature"),
                             get_settings().stripe_webhook_secret)
        text = raw.decode("utf-8")
    except InvalidInput as exc:
        return from_error(exc)
    except UnicodeDecodeError:
        return error_response(400, "malformed_json", "The webhook body is not UTF-8 JSON.")
    delivery = await run_in_threadpool(receive_event, event, text, gateway=get_gateway())
    if delivery.http_status != 200:
        return error_response(500, "processing_failed",
                              "The event was stored but could not be processed; retry later.")
    return JSONResponse({"received": True, "status": delivery.event_status,
                         "duplicate": delivery.duplicate})


routes = [Route("/api/billing/webhook", stripe_webhook, methods=["POST"])]
