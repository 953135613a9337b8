"""GET /api/billing/usage.csv: the signed-in user's runs (`?data=runs`, optionally
`&month=2026-03`) or monthly totals (`?data=months`) as a CSV download."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aether_web.api.context import in_transaction, require_user
from aether_web.api.responses import error_response, from_error
from aether_web.db import db_now
from aether_web.errors import AetherError
from aether_web.services.usage_export import export_filename, months_csv, parse_month, runs_csv


async def usage_csv(request: Request) -> Response:
    kind = request.query_params.get("data", "runs")
    if kind not in ("runs", "months"):
        return error_response(400, "invalid_data", "data must be runs or months.")

    def run(session):
        user = require_user(session, request)
        month = parse_month(request.query_params.get("month"))
        now = db_now(session).replace(microsecond=0)
        body = (runs_csv(session, user_id=user.id, month=month, now=now) if kind == "runs"
                else months_csv(session, user_id=user.id, now=now))
        return body, export_filename(kind, month, now)

    try:
        body, filename = await in_transaction(run)
    except AetherError as exc:
        return from_error(exc)
    return Response(body, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "private, no-store",
    })


routes = [Route("/api/billing/usage.csv", usage_csv, methods=["GET"])]
