"""The one error format of every API route: {"error": {"code": ..., "message": ...}}."""

from __future__ import annotations

import json
from typing import Any

import sentry_sdk
from starlette.requests import Request
from starlette.responses import JSONResponse

from aether_web.errors import AetherError, InvalidInput
from aether_web.observability import log


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse({"error": body}, status_code=status)


def from_error(exc: AetherError) -> JSONResponse:
    fields = exc.details.get("fields")
    return error_response(exc.status, exc.code, exc.message, fields=fields)


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or InvalidInput (never a stack trace)."""
    return parse_json_object(await request.body())


# Objects and arrays nested deeper than this are refused (every route's body is nearly flat).
MAX_JSON_DEPTH = 16


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """`raw` as a JSON object nested at most MAX_JSON_DEPTH deep, or InvalidInput."""
    try:
        data = json.loads(raw or b"null")
    except RecursionError as exc:
        raise _too_deep() from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("The request body must be JSON.", code="malformed_json") from exc
    if not isinstance(data, dict):
        raise InvalidInput("The request body must be a JSON object.", code="malformed_json")
    if _depth_exceeds(data, MAX_JSON_DEPTH):
        raise _too_deep()
    return data


def _too_deep() -> InvalidInput:
    return InvalidInput(f"The request body is nested more than {MAX_JSON_DEPTH} levels deep.",
                        code="json_too_deep")


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether objects/arrays in `value` nest deeper than `limit` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


async def handle_aether_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AetherError)
    return from_error(exc)


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database can't be reached right now (down, restarting, its
    connections cut, the pool exhausted, SQLite busy): worth a retry, not a bug."""
    import asyncpg
    import sqlalchemy as sa

    if isinstance(exc, sa.exc.OperationalError | sa.exc.TimeoutError):
        return True
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.CannotConnectNowError
                      | asyncpg.InterfaceError | asyncpg.AdminShutdownError
                      | ConnectionError | TimeoutError)


def unavailable_response() -> JSONResponse:
    """503 in the error shape, with a hint to retry soon."""
    response = error_response(503, "database_unavailable",
                              "The service is briefly unavailable; retry in a few seconds.")
    response.headers["Retry-After"] = "5"
    return response


async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    """Any other exception: report it and answer 500 in the same format (503 when the
    database is unreachable: the caller should retry, and nothing was applied)."""
    if database_unavailable(exc):
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path,
                    exc.__class__.__name__)
        return unavailable_response()
    sentry_sdk.capture_exception(exc)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(
        500, "internal_error", "Something went wrong on our side. We've been notified."
    )


async def handle_http_exception(_request: Request, exc: Exception) -> JSONResponse:
    status = getattr(exc, "status_code", 500)
    codes = {404: "not_found", 405: "method_not_allowed"}
    return error_response(status, codes.get(status, "http_error"), str(getattr(exc, "detail", "")))
