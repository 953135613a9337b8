"""The heartbeat hook's fast path on PostgreSQL.

Every running VM sends a heartbeat every minute, so this is the request the orchestrator sends
most. On PostgreSQL it is answered in front of the rest of the app: the body is checked exactly
as every hook's is (`hooks.answer_hook`), then `services.heartbeat.HEARTBEAT_SQL` runs as one
statement on an asyncpg connection, on the event loop, with no worker thread and no ORM
session. Whatever that statement does not settle (no run of this machine open, a simultaneous
repeat, a connection the database dropped) goes to the regular handler,
`services.heartbeat.record_heartbeat`, in its own transaction, which answers it the same way
it answers on SQLite.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from typing import Any

import asyncpg
import sentry_sdk
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from starlette.types import ASGIApp, Receive, Scope, Send

from aether_web import metrics
from aether_web.api import hooks
from aether_web.api.metrics import HTTP_REQUESTS, status_class
from aether_web.api.responses import database_unavailable, error_response, unavailable_response
from aether_web.db import clock_offset, database_url
from aether_web.observability import log
from aether_web.services.heartbeat import HEARTBEAT_SQL, heartbeat_answer
from aether_web.services.hook_events import HookAnswer, parse_project_id

PATH = "/api/hooks/vm/heartbeat"
# How these connections show in pg_stat_activity.
APPLICATION_NAME = "aether-heartbeat"
# Connections per worker process; a request waits for one when all are busy.
POOL_SIZE = 10
# HEARTBEAT_SQL with asyncpg's numbered placeholders, and the names in their order.
_COMPILED = sa.text(HEARTBEAT_SQL).compile(dialect=postgresql.asyncpg.dialect())
STATEMENT, PARAMETERS = str(_COMPILED), tuple(_COMPILED.positiontup or ())
# Seconds to wait for a new connection before leaving the request to the regular handler.
CONNECT_TIMEOUT = 5
# What means the connection, not the request, failed: replace it and use the regular handler.
# That includes a prepared statement a migration made stale, and a connection the server ended
# while it sat idle (asyncpg then finds it busy with that error: InternalClientError).
_CONNECTION_ERRORS = (OSError, asyncio.TimeoutError, asyncpg.PostgresConnectionError,
                      asyncpg.InterfaceError, asyncpg.CannotConnectNowError,
                      asyncpg.InvalidCachedStatementError, asyncpg.InternalClientError)


def dsn(url: str) -> str:
    """An asyncpg connection URL for a SQLAlchemy PostgreSQL URL (query parameters such as
    `options` are sent to the server as they are)."""
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(
        hide_password=False)


async def _connect(url: str) -> tuple[asyncpg.Connection, Any]:
    conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT,
                                 server_settings={"application_name": APPLICATION_NAME})
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads,
                              schema="pg_catalog")
    return conn, await conn.prepare(STATEMENT)


class ConnectionPool:
    """Connections of one event loop, each with HEARTBEAT_SQL prepared, most recently used
    first."""

    def __init__(self, url: str, size: int = POOL_SIZE) -> None:
        self._url = url
        self._idle: list[tuple[asyncpg.Connection, Any]] = []
        self._slots = asyncio.Semaphore(size)

    async def run(self, params: dict[str, Any]) -> Any | None:
        """One HEARTBEAT_SQL result row, or None when the statement could not settle the
        request here (the caller then uses the regular handler, which retries or answers a
        repeat): a unique violation from a simultaneous request with the same event_id, or
        a connection that failed."""
        async with self._slots:
            held = self._idle.pop() if self._idle else None
            while held is not None and held[0].is_closed():
                held = self._idle.pop() if self._idle else None
            try:
                if held is None:
                    held = await _connect(self._url)
                row = await held[1].fetchrow(*[params[name] for name in PARAMETERS])
            except asyncpg.UniqueViolationError:
                self._idle.append(held)  # type: ignore[arg-type]
                return None
            except _CONNECTION_ERRORS as exc:
                log.warning("heartbeat fast path: connection failed (%s); using the regular "
                            "handler", exc.__class__.__name__)
                if held is not None:
                    held[0].terminate()
                return None
            except BaseException:
                if held is not None:
                    held[0].terminate()
                raise
            self._idle.append(held)
            return row

    async def close(self) -> None:
        while self._idle:
            conn = self._idle.pop()[0]
            try:
                await conn.close(timeout=2)
            except Exception:  # a server that is gone: just drop the socket
                conn.terminate()


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ConnectionPool] = (
    weakref.WeakKeyDictionary())


def pool() -> ConnectionPool:
    """The running event loop's pool (each server worker runs one loop)."""
    loop = asyncio.get_running_loop()
    found = _pools.get(loop)
    if found is None:
        found = _pools[loop] = ConnectionPool(dsn(database_url()))
    return found


async def close_pool() -> None:
    """Close the running event loop's connections (a worker shutting down)."""
    found = _pools.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await found.close()


async def fast_heartbeat(data: dict) -> HookAnswer | None:
    """The heartbeat in one statement, or None to leave it to the regular handler (always,
    while tests move the app's clock: the statement's clock is the database's own)."""
    if clock_offset():
        return None
    fields = hooks.heartbeat_fields(data)
    row = await pool().run({**fields, "project_id": parse_project_id(fields["project_id"]),
                            "at": None})
    return None if row is None else heartbeat_answer(tuple(row))


async def _read_body(receive: Receive) -> bytes:
    """The request body, stopping once it is longer than any hook may be."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > hooks.MAX_BODY_BYTES or not message.get("more_body", False):
            break
    return b"".join(chunks)


def _signature(scope: Scope) -> str | None:
    wanted = hooks.SIGNATURE_HEADER.lower().encode()
    for name, value in scope["headers"]:
        if name == wanted:
            return value.decode("latin-1")
    return None


async def heartbeat_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI app answering POST /api/hooks/vm/heartbeat on PostgreSQL."""
    started = time.perf_counter()
    try:
        response = await hooks.answer_hook("heartbeat", hooks._heartbeat,
                                           await _read_body(receive), _signature(scope),
                                           fast=fast_heartbeat)
    except Exception as exc:
        if database_unavailable(exc):
            log.warning("database unavailable on POST %s: %s", PATH, exc.__class__.__name__)
            response = unavailable_response()
        else:
            sentry_sdk.capture_exception(exc)
            log.exception("unhandled error on POST %s", PATH)
            response = error_response(
                500, "internal_error", "Something went wrong on our side. We've been notified.")
    metrics.inc(HTTP_REQUESTS, status_class=status_class(response.status_code))
    metrics.REQUEST_SECONDS.labels(route=PATH, method="POST").observe(
        time.perf_counter() - started)
    await send({"type": "http.response.start", "status": response.status_code,
                "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


def heartbeat_fast_path(app: ASGIApp) -> ASGIApp:
    """Wrap the app so POST /api/hooks/vm/heartbeat is answered by `heartbeat_app` when the
    database is PostgreSQL; every other request, and every request on SQLite, goes to `app`."""
    if not database_url().startswith("postgresql"):
        return app
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST":
            await heartbeat_app(scope, receive, send)
        else:
            await app(scope, receive, send)

    return wrapped
