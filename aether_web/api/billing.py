"""Billing for the signed-in user: Checkout, the Customer Portal and invoices."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aether_web.api.context import in_transaction, require_user
from aether_web.api.responses import json_body
from aether_web.integrations.stripe import get_gateway
from aether_web.services import billing, subscription_lifecycle


async def checkout(request: Request) -> JSONResponse:
    """`{"plan": "pro"|"team"}` -> `{"checkout_url": ...}`."""
    body = await json_body(request)

    def run(session):
        user = require_user(session, request)
        return billing.start_checkout(session, user_id=user.id, plan_key=body.get("plan"),
                                      gateway=get_gateway())

    return JSONResponse({"checkout_url": await in_transaction(run)})


async def portal(request: Request) -> JSONResponse:
    """-> `{"portal_url": ...}` (change plan, cancel, update the card)."""

    def run(session):
        user = require_user(session, request)
        return billing.open_portal(session, user_id=user.id, gateway=get_gateway())

    return JSONResponse({"portal_url": await in_transaction(run)})


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
    """`{"plan": "pro"|"team"}`: switch the subscription's plan (Stripe prorates the fee)."""
    body = await json_body(request)

    def run(session):
        user = require_user(session, request)
        return subscription_lifecycle.switch_plan(session, user_id=user.id,
                                                  plan_key=body.get("plan"),
                                                  gateway=get_gateway())

    return JSONResponse({"outcome": await in_transaction(run)})


routes = [
    Route("/api/billing/cancel", cancel_now, methods=["POST"]),
    Route("/api/billing/switch", switch_plan, methods=["POST"]),
    Route("/api/billing/checkout", checkout, methods=["POST"]),
    Route("/api/billing/portal", portal, methods=["POST"]),
    Route("/api/billing/invoices", invoices, methods=["GET"]),
]
