"""Signed usage hooks for the VM orchestrator (contract: docs/site/usage-hooks.md).

Every request carries `Aether-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
"<t>.<raw body>")>`, checked against each secret of AETHER_HOOK_SECRETS in constant time,
before the body is even parsed.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from aether_web import metrics
from aether_web.api.context import in_transaction
from aether_web.api.responses import error_response, from_error, parse_json_object
from aether_web.errors import AetherError, InvalidInput
from aether_web.services import (
    heartbeat,
    hook_events,
    run_hooks,
    storage_accrual,
    text_input,
    usage_limits,
)
from aether_web.settings import get_settings

SIGNATURE_HEADER = "Aether-Signature"
MAX_BODY_BYTES = 64 * 1024


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The Aether-Signature header value for `body` (used by tests, tools and the docs)."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


# Seconds since 1970 in a signature's t=: ten digits until the year 2286.
MAX_TIMESTAMP_DIGITS = 12


def verify_signature(header: str | None, body: bytes, secrets: list[str], *,
                     tolerance: int, now: float | None = None) -> bool:
    """True when some v1 in the header is the HMAC of "<t>.<body>" under some secret and t is
    within `tolerance` seconds of now, in either direction."""
    if not header or not secrets:
        return False
    timestamp, candidates = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1" and value:
            candidates.append(value)
    # ASCII digits only, and few of them: str.isdigit() accepts "²" and int() refuses more
    # than 4,300 digits, both a ValueError (a 500) for an unsigned request.
    if (timestamp is None or not candidates or not 0 < len(timestamp) <= MAX_TIMESTAMP_DIGITS
            or not timestamp.isascii() or not timestamp.isdigit()):
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance:
        return False
    signed = timestamp.encode() + b"." + body
    matched = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        for candidate in candidates:
            # Check every pair, so timing does not tell which secret or position matched.
            matched |= hmac.compare_digest(expected, candidate)
    return matched


# The largest byte count a hook may send (1 PiB): far above any volume, and a user's total
# over thousands of projects stays inside a signed 64-bit column.
MAX_BYTES = 2**50


def _field(data: dict, name: str, kind: type, *, max_len: int = 128) -> Any:
    value = data.get(name)
    if kind is str:
        if (not isinstance(value, str) or not value.strip() or len(value) > max_len
                or text_input.hidden_character(value)):
            raise InvalidInput(f"{name} must be a non-empty string of at most {max_len} "
                               "printable characters.", code="invalid_body", field=name)
        return value.strip()
    if kind is int:
        if (isinstance(value, bool) or not isinstance(value, int) or value < 0
                or value > MAX_BYTES):
            raise InvalidInput(f"{name} must be a whole number from 0 to {MAX_BYTES}.",
                               code="invalid_body", field=name)
        return value
    raise TypeError(kind)


def _optional_str(data: dict, name: str, *, max_len: int = 64) -> str:
    value = data.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > max_len or text_input.hidden_character(value):
        raise InvalidInput(f"{name} must be a string of at most {max_len} printable characters.",
                           code="invalid_body", field=name)
    return value.strip()


def _started(s, d):
    return run_hooks.record_started(
        s, event_id=_field(d, "event_id", str), project_id=_field(d, "project_id", str),
        machine_id=_field(d, "machine_id", str, max_len=64),
        machine_type=_optional_str(d, "machine_type"))


def heartbeat_fields(d: dict) -> dict[str, str]:
    """A heartbeat's event_id, project_id and machine_id, or InvalidInput."""
    return {"event_id": _field(d, "event_id", str), "project_id": _field(d, "project_id", str),
            "machine_id": _field(d, "machine_id", str, max_len=64)}


def _heartbeat(s, d):
    return heartbeat.record_heartbeat(s, **heartbeat_fields(d))


def _stopped(s, d):
    return run_hooks.record_stopped(
        s, event_id=_field(d, "event_id", str), project_id=_field(d, "project_id", str),
        machine_id=_field(d, "machine_id", str, max_len=64),
        reason=_optional_str(d, "reason") or "stopped")


def _storage(s, d):
    return storage_accrual.record_storage(
        s, event_id=_field(d, "event_id", str), project_id=_field(d, "project_id", str),
        bytes_used=_field(d, "bytes_used", int))


def _authorize(s, d):
    return hook_events.HookAnswer(200, usage_limits.authorize_start(
        s, project_id=_field(d, "project_id", str)))


def _storage_check(s, d):
    return hook_events.HookAnswer(200, usage_limits.check_storage(
        s, project_id=_field(d, "project_id", str),
        additional_bytes=_field(d, "additional_bytes", int)))


async def _apply(handler: Callable, data: dict) -> hook_events.HookAnswer:
    """Run `handler(session, data)` in its own transaction, retrying the failures a retry
    answers correctly."""
    try:
        return await in_transaction(handler, data)
    except sa.exc.IntegrityError:
        # The same event_id was applied by a simultaneous request: answer as a repeat.
        return await in_transaction(handler, data)
    except sa.exc.DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        # A connection the database dropped mid-transaction. Retrying is safe: had the hook
        # been applied, the event_id makes the retry answer as a repeat.
        return await in_transaction(handler, data)


FastPath = Callable[[dict], Awaitable["hook_events.HookAnswer | None"]]


async def answer_hook(kind: str, handler: Callable, body: bytes, signature: str | None, *,
                      fast: FastPath | None = None) -> Response:
    """The response to one hook request: size, signature, JSON, then the handler in a
    transaction. `fast`, when given, is tried first; it answers None to leave the request to
    the handler. Unexpected errors propagate to the caller."""
    status = 500
    started = time.perf_counter()
    try:
        settings = get_settings()
        if len(body) > MAX_BODY_BYTES:
            status = 413
            return error_response(413, "body_too_large", "The request body is too large.")
        if not verify_signature(signature, body, settings.hook_secret_list,
                                tolerance=settings.hook_tolerance_seconds):
            status = 401
            return error_response(
                401, "invalid_signature",
                "Missing or invalid Aether-Signature, or its timestamp is more than "
                f"{settings.hook_tolerance_seconds} s away from now.")
        data = parse_json_object(body)
        answer = await fast(data) if fast is not None else None
        if answer is None:
            answer = await _apply(handler, data)
        status = answer.status
        response = JSONResponse(answer.body, status_code=answer.status)
        if answer.repeat:
            response.headers["Aether-Repeat"] = "true"
        return response
    except AetherError as exc:
        status = exc.status
        return from_error(exc)
    finally:
        metrics.inc("aether_hook_requests_total", kind=kind, status=str(status))
        metrics.HOOK_SECONDS.labels(kind=kind).observe(time.perf_counter() - started)


def _endpoint(kind: str, handler: Callable) -> Callable:
    async def endpoint(request: Request) -> Response:
        return await answer_hook(kind, handler, await request.body(),
                                 request.headers.get(SIGNATURE_HEADER))

    return endpoint


routes = [
    Route("/api/hooks/vm/authorize", _endpoint("authorize", _authorize), methods=["POST"]),
    Route("/api/hooks/vm/started", _endpoint("started", _started), methods=["POST"]),
    Route("/api/hooks/vm/heartbeat", _endpoint("heartbeat", _heartbeat), methods=["POST"]),
    Route("/api/hooks/vm/stopped", _endpoint("stopped", _stopped), methods=["POST"]),
    Route("/api/hooks/storage", _endpoint("storage", _storage), methods=["POST"]),
    Route("/api/hooks/storage/check", _endpoint("storage_check", _storage_check),
          methods=["POST"]),
]
