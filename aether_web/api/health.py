"""Liveness and readiness for uptime monitors and load balancers."""

from __future__ import annotations

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aether_web.db import read_transaction
from aether_web.jobs.status import job_statuses
from aether_web.observability import log


async def health(_request: Request) -> JSONResponse:
    """The process is up."""
    return JSONResponse({"status": "ok"})


def _readiness() -> dict:
    with read_transaction() as session:
        session.exec(sa.text("SELECT 1"))
        jobs = job_statuses(session)
    return {"status": "ready", "database": "ok", "jobs": jobs}


async def ready(request: Request) -> JSONResponse:
    """Ready or not: the database answers. Operators (`security.is_operator`) also see each
    job's last success; the public sees only the status."""
    from starlette.concurrency import run_in_threadpool

    from aether_web.api.security import is_operator

    details = is_operator(request)
    try:
        body = await run_in_threadpool(_readiness)
    except Exception as exc:
        log.warning("readiness check failed: %s", exc.__class__.__name__)
        answer = {"status": "unavailable",
                  "error": {"code": "not_ready", "message": "The service is not ready."}}
        if details:
            answer["database"] = "unreachable"
            answer["error"] = {"code": "database_unavailable",
                               "message": "The database is not answering."}
        return JSONResponse(answer, status_code=503)
    return JSONResponse(body if details else {"status": "ready"})


routes = [
    Route("/api/health", health, methods=["GET", "HEAD"]),
    Route("/api/ready", ready, methods=["GET", "HEAD"]),
]
