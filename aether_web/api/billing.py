"""Billing for the signed-in user: Checkout, the Customer Portal and invoices."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aether_web.api.context import in_transaction, require_user
from aether_web.api.responses import json_body
from aether_web.integrations.stripe import get_gateway
from aether_web.services import billing, subscription_lifecycle


async def checkout(request: Request) -> JSONResponse:
    """`{"plan": "pro"|"team"}` -> `{"checkout_url": ...}`. Stripe is called outside any
    transaction (`billing.checkout_url`)."""
    body = await json_body(request)
    user_id = await in_transaction(lambda session: require_user(session, request).id)
    url = await run_in_threadpool(billing.checkout_url, user_id=user_id,
                                  plan_key=body.get("plan"), gateway=get_gateway())
    return JSONResponse({"checkout_url": url})


async def portal(request: Request) -> JSONResponse:
    """-> `{"portal_url": ...}` (change plan, cancel, update the card)."""
    user_id = await in_transaction(lambda session: require_user(session, request).id)
    url = await run_in_threadpool(billing.portal_url, user_id=user_id, gateway=get_gateway())
    return JSONResponse({"portal_url": url})


async def invoices(request: Request) -> JSONResponse:
    """-> `{"invoices": [...]}`, newest first."""

    def run(session):
        user = require_user(session, request)
        return [billing.invoice_json(row)
                for row in billing.list_invoices(session, user_id=user.id)]

    return JSONResponse({"invoices": await in_transaction(run)})


async def cancel_now(request: Request) -> JSONResponse:
    """Cancel at once: the overage so far and the unused flat fee go on a final invoice."""

    def run(session):
        user = require_user(session, request)
        return subscription_lifecycle.cancel_now(session, user_id=user.id,
                                                 gateway=get_gateway())

    return JSONResponse({"outcome": await in_transaction(run)})


async def switch_plan(request: Request) -> JSONResponse:
    """`{"plan": "pro"|"team"}`: switch the subscription's plan (Stripe prorates the fee).
    An `Idempotency-Key` header (at most 100 characters) makes a retry of the same request
    count once; 409 `past_due` while the last invoice is unpaid."""
    body = await json_body(request)
    key = (request.headers.get("idempotency-key") or "").strip()
    request_key = key if key.isascii() and key.isprintable() and 0 < len(key) <= 100 else None

    def user_id(session):
        return require_user(session, request).id

    # switch_plan owns its transactions (Stripe is called outside any): only the user is
    # read in the request's.
    outcome = await run_in_threadpool(
        subscription_lifecycle.switch_plan, user_id=await in_transaction(user_id),
        plan_key=body.get("plan"), gateway=get_gateway(), request_key=request_key)
    return JSONResponse({"outcome": outcome})


routes = [
    Route("/api/billing/cancel", cancel_now, methods=["POST"]),
    Route("/api/billing/switch", switch_plan, methods=["POST"]),
    Route("/api/billing/checkout", checkout, methods=["POST"]),
    Route("/api/billing/portal", portal, methods=["POST"]),
    Route("/api/billing/invoices", invoices, methods=["GET"]),
]
