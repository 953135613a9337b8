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


async def ready(_request: Request) -> JSONResponse:
    """The database answers; also shows each job's last success."""
    from starlette.concurrency import run_in_threadpool

    try:
        body = await run_in_threadpool(_readiness)
    except Exception as exc:
        log.warning("readiness check failed: %s", exc.__class__.__name__)
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable",
             "error": {"code": "database_unavailable", "message": "The database is not answering."}},
            status_code=503,
        )
    return JSONResponse(body)


routes = [
    Route("/api/health", health, methods=["GET", "HEAD"]),
    Route("/api/ready", ready, methods=["GET", "HEAD"]),
]
