"""Liveness and readiness for uptime monitors and load balancers."""

from __future__ import annotations

import anyio
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aether_web.db import read_transaction
from aether_web.jobs.status import job_statuses
from aether_web.loop_limits import LoopLimiter
from aether_web.observability import log


async def health(_request: Request) -> JSONResponse:
    """The process is up."""
    return JSONResponse({"status": "ok"})


# The readiness check's own worker thread: a burst of other work in Starlette's shared thread
# pool (log-ins, pages) never queues the probe behind it.
_readiness_limiter = LoopLimiter(2)


def _readiness(details: bool) -> dict:
    """The database answers; with `details`, also each job's last run (a few more queries,
    only for operators: the public answer needs just the ping)."""
    with read_transaction() as session:
        session.exec(sa.text("SELECT 1"))
        if not details:
            return {"status": "ready"}
        jobs = job_statuses(session)
    return {"status": "ready", "database": "ok", "jobs": jobs}


async def ready(request: Request) -> JSONResponse:
    """Ready or not: the database answers. Operators (`security.is_operator`) also see each
    job's last success; the public sees only the status."""
    from aether_web.api.security import is_operator

    details = is_operator(request)
    try:
        body = await anyio.to_thread.run_sync(_readiness, details,
                                              limiter=_readiness_limiter())
    except Exception as exc:
        log.warning("readiness check failed: %s", exc.__class__.__name__)
        answer = {"status": "unavailable",
                  "error": {"code": "not_ready", "message": "The service is not ready."}}
        if details:
            answer["database"] = "unreachable"
            answer["error"] = {"code": "database_unavailable",
                               "message": "The database is not answering."}
        return JSONResponse(answer, status_code=503)
    return JSONResponse(body)


routes = [
    Route("/api/health", health, methods=["GET", "HEAD"]),
    Route("/api/ready", ready, methods=["GET", "HEAD"]),
]
