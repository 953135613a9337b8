"""GET /api/billing/usage: the signed-in user's usage summary."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aether_web.api.context import in_transaction, require_user
from aether_web.api.responses import from_error
from aether_web.errors import AetherError
from aether_web.services.usage_summary import usage_summary


async def billing_usage(request: Request) -> Response:
    def run(session):
        user = require_user(session, request)
        return usage_summary(session, user_id=user.id)

    try:
        return JSONResponse(await in_transaction(run))
    except AetherError as exc:
        return from_error(exc)


routes = [Route("/api/billing/usage", billing_usage, methods=["GET"])]
