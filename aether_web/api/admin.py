"""The support console's JSON: /api/admin/... for admins only (401 without a session, 403 for
everyone else), answered from `aether_web.services.support`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aether_web.api.context import in_transaction, require_user
from aether_web.jobs import status as job_status
from aether_web.services import support


async def _as_admin(request: Request, fn: Callable[[Session], Any]) -> Any:
    """Run `fn(session)` in one transaction after checking the caller is an admin."""

    def run(session: Session) -> Any:
        support.require_admin(require_user(session, request))
        return fn(session)

    return await in_transaction(run)


async def find_users(request: Request) -> JSONResponse:
    query = request.query_params.get("email", "")
    users = await _as_admin(request, lambda s: support.find_users(s, query=query))
    return JSONResponse({"users": users})


async def user_overview(request: Request) -> JSONResponse:
    user_id = request.path_params["user_id"]
    return JSONResponse(await _as_admin(request,
                                        lambda s: support.user_overview(s, user_id=user_id)))


async def failed_webhooks(request: Request) -> JSONResponse:
    events = await _as_admin(request, support.failed_webhook_events)
    return JSONResponse({"events": events})


async def replay_webhook(request: Request) -> JSONResponse:
    await _as_admin(request, lambda _s: None)
    # The replay owns its transactions (the event is kept even when processing fails again).
    result = await run_in_threadpool(support.replay_webhook_event,
                                     request.path_params["event_id"])
    return JSONResponse(result, status_code=200 if result["ok"] else 502)


async def jobs(request: Request) -> JSONResponse:
    return JSONResponse({"jobs": await _as_admin(request, job_status.job_rows)})


async def drift(request: Request) -> JSONResponse:
    return JSONResponse({"reports": await _as_admin(request, support.last_drift_report)})


routes = [
    Route("/api/admin/users", find_users, methods=["GET"]),
    Route("/api/admin/users/{user_id}", user_overview, methods=["GET"]),
    Route("/api/admin/webhooks/failed", failed_webhooks, methods=["GET"]),
    Route("/api/admin/webhooks/{event_id}/replay", replay_webhook, methods=["POST"]),
    Route("/api/admin/jobs", jobs, methods=["GET"]),
    Route("/api/admin/drift", drift, methods=["GET"]),
]
