"""Bounded work per request, ahead of everything else (ASGI middleware).

Request bodies have a size limit per route, enforced before the body is read: a declared
`Content-Length` over the limit is refused at once, and a chunked body is counted while it
streams and refused as soon as it passes the limit. Either way the answer is 413 in the error
shape and the app never holds more than the limit in memory. A body that trickles in slower
than `BODY_CHUNK_TIMEOUT` per chunk, or takes longer than `BODY_TOTAL_TIMEOUT` in all, is
answered 408. (Slow request headers are cut off by the server's protocol: `aether_web.serving`.)

The request line and headers are bounded too, before any route runs: a URL (path and query
string) longer than `MAX_URL_BYTES` is answered 414, request headers of more than
`MAX_HEADER_BYTES` in all 431, both in the error shape. (The server's protocol has a far higher
ceiling of its own for the whole request head, so that it never buffers an unbounded one:
`aether_web.serving.MAX_HEAD_BYTES`.) A websocket handshake (Reflex's `/_event`) is held to the
same URL and header limits: its headers stay in memory for as long as the socket is open.
"""

from __future__ import annotations

import asyncio
import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aether_web.api import hooks

KIB = 1024
# The longest prefix that matches wins.
BODY_LIMITS: tuple[tuple[str, int], ...] = (
    ("/api/hooks/", hooks.MAX_BODY_BYTES),  # 64 KiB: the orchestrator's small JSON events
    ("/api/billing/webhook", 1024 * KIB),  # Stripe's events are well under 1 MiB
)
DEFAULT_BODY_LIMIT = 16 * KIB  # log-in forms, JSON calls of the pages and the admin API
# Our links, the pages' query strings and Reflex's websocket URL are all far shorter; 8 KiB is
# also what common proxies and CDNs accept.
MAX_URL_BYTES = 8 * KIB
# Every header's name and value (plus ": " and CRLF): cookies, tokens, signatures, with room.
MAX_HEADER_BYTES = 32 * KIB
BODY_CHUNK_TIMEOUT = 10.0
BODY_TOTAL_TIMEOUT = 30.0


def body_limit_for(path: str) -> int:
    """The largest request body accepted on `path`, in bytes."""
    best, limit = -1, DEFAULT_BODY_LIMIT
    for prefix, value in BODY_LIMITS:
        if path.startswith(prefix) and len(prefix) > best:
            best, limit = len(prefix), value
    return limit


class _Refuse(BaseException):
    """Raised inside the app's receive() to stop it reading; answered by the middleware."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


async def _answer(send: Send, status: int, code: str, message: str) -> None:
    body = _error_body(code, message)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _too_large(limit: int) -> _Refuse:
    return _Refuse(413, "body_too_large",
                   f"The request body is too large (at most {limit} bytes here).")


def url_bytes(scope: Scope) -> int:
    """The length of the request's URL as sent: its path, and `?` and query string if any."""
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    return len(path) + (len(query) + 1 if query else 0)


def header_bytes(scope: Scope) -> int:
    """The size of the request's headers as sent (name, `: `, value, CRLF each)."""
    return sum(len(name) + len(value) + 4 for name, value in scope.get("headers", ()))


def _head_refusal(scope: Scope) -> _Refuse | None:
    """The answer to a request whose URL or headers are over the limits, else None."""
    if url_bytes(scope) > MAX_URL_BYTES:
        return _Refuse(414, "uri_too_long",
                       f"The request URL is too long (at most {MAX_URL_BYTES} bytes).")
    if header_bytes(scope) > MAX_HEADER_BYTES:
        return _Refuse(431, "headers_too_large",
                       f"The request headers are too large (at most {MAX_HEADER_BYTES} bytes "
                       "in all).")
    return None


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None


async def _refuse_handshake(scope: Scope, send: Send, refusal: _Refuse) -> None:
    """Answer a websocket handshake with the refusal's status and error body where the server
    can (the ASGI `websocket.http.response` extension), else close it (403)."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    body = _error_body(refusal.code, refusal.message)
    await send({"type": "websocket.http.response.start", "status": refusal.status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "websocket.http.response.body", "body": body})


def limit_request_bodies(app: ASGIApp) -> ASGIApp:
    """`app` behind the URL, header and body limits and the body timeouts of this module."""

    async def limited(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and (refusal := _head_refusal(scope)) is not None:
            await _refuse_handshake(scope, send, refusal)
            return
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        head_refusal = _head_refusal(scope)
        if head_refusal is not None:
            await _answer(send, head_refusal.status, head_refusal.code, head_refusal.message)
            return
        limit = body_limit_for(scope["path"])
        declared = _declared_length(scope)
        if declared is not None and declared < 0:
            await _answer(send, 400, "bad_request", "The Content-Length header is not a number.")
            return
        if declared is not None and declared > limit:
            refusal = _too_large(limit)
            await _answer(send, refusal.status, refusal.code, refusal.message)
            return

        received = 0
        done = False
        started = False
        deadline = time.monotonic() + BODY_TOTAL_TIMEOUT

        async def bounded_receive() -> Message:
            nonlocal received, done
            if done:  # after the body: disconnect notices, untimed
                return await receive()
            wait = min(BODY_CHUNK_TIMEOUT, deadline - time.monotonic())
            try:
                message = await asyncio.wait_for(receive(), timeout=max(wait, 0.001))
            except TimeoutError:
                raise _Refuse(408, "request_timeout",
                              "The request body arrived too slowly.") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(limit)
                done = not message.get("more_body", False)
            else:
                done = True
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await app(scope, bounded_receive, tracking_send)
        except _Refuse as refusal:
            if not started:
                await _answer(send, refusal.status, refusal.code, refusal.message)
        except BaseExceptionGroup as group:  # raised across a task group on its way out
            found, rest = group.split(_Refuse)
            if found is None:
                raise
            if not started:
                first = found.exceptions[0]
                while isinstance(first, BaseExceptionGroup):
                    first = first.exceptions[0]
                assert isinstance(first, _Refuse)
                await _answer(send, first.status, first.code, first.message)
            if rest is not None:
                raise rest from None

    return limited
