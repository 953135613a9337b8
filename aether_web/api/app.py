"""The Starlette app of our /api/ routes, mounted on Reflex's backend via api_transformer."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from aether_web.api import (
    admin,
    auth,
    billing,
    health,
    hooks,
    metrics,
    usage,
    usage_export,
    webhooks,
    workspace,
)
from aether_web.api.responses import handle_aether_error, handle_http_exception, handle_unexpected
from aether_web.api.security import SecurityMiddleware
from aether_web.errors import AetherError

ROUTE_MODULES = (health, auth, hooks, usage_export, usage, billing, webhooks, admin, metrics,
                 workspace)


def all_routes() -> list[BaseRoute]:
    """Every route module's routes. Each area adds its module to ROUTE_MODULES."""
    return [route for module in ROUTE_MODULES for route in module.routes]


def create_api() -> Starlette:
    """A fresh API app (tests build their own)."""
    return Starlette(
        routes=all_routes(),
        middleware=[Middleware(SecurityMiddleware)],
        exception_handlers={
            AetherError: handle_aether_error,
            HTTPException: handle_http_exception,
            Exception: handle_unexpected,
        },
    )


async def _unknown_api_route(request):
    from aether_web.api.responses import error_response

    return error_response(404, "not_found", f"No API route at {request.url.path}.")


def api_transformer() -> Starlette:
    """The app mounted in front of Reflex: our routes, then a JSON 404 for unknown /api/ paths."""
    from starlette.routing import Route

    api = create_api()
    api.router.routes.append(
        Route("/api/{rest:path}", _unknown_api_route, methods=["GET", "POST", "PUT", "DELETE"])
    )
    return api
