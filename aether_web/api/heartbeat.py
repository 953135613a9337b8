"""The heartbeat hook's fast path on PostgreSQL.

Every running VM sends a heartbeat every minute, so this is the request the orchestrator sends
most. On PostgreSQL it is answered in front of the rest of the app: the body is checked exactly
as every hook's is (`hooks.answer_hook`), then `services.heartbeat.HEARTBEAT_SQL` runs as one
statement on an asyncpg connection, on the event loop, with no worker thread and no ORM
session. Heartbeats that arrive while the worker's earlier statements run wait for the next
one, which answers all of them at once (`services.heartbeat.HEARTBEATS_SQL`): one round trip
and one commit for many VMs. Whatever a statement does not settle (no run of this machine
open, a project another transaction holds, a simultaneous repeat, a connection the database
dropped) goes to the regular handler, `services.heartbeat.record_heartbeat`, in its own
transaction, which answers it the same way it answers on SQLite.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import Awaitable, Callable
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
from aether_web.errors import NotFound
from aether_web.observability import log
from aether_web.services.heartbeat import HEARTBEAT_SQL, HEARTBEATS_SQL, heartbeat_answer
from aether_web.services.hook_events import HookAnswer, parse_project_id

PATH = "/api/hooks/vm/heartbeat"
# How these connections show in pg_stat_activity.
APPLICATION_NAME = "aether-heartbeat"
# Connections per worker process; a request waits for one when all are busy.
POOL_SIZE = 10
# Statements in flight per worker process: a heartbeat that arrives while all are out waits
# for the next, which takes every heartbeat waiting by then (up to BATCH_SIZE).
IN_FLIGHT = 3
BATCH_SIZE = 100


def _compiled(statement: str) -> tuple[str, tuple[str, ...]]:
    """A statement with asyncpg's numbered placeholders, and the names in their order."""
    compiled = sa.text(statement).compile(dialect=postgresql.asyncpg.dialect())
    return str(compiled), tuple(compiled.positiontup or ())


STATEMENT, PARAMETERS = _compiled(HEARTBEAT_SQL)
BATCH_STATEMENT, BATCH_PARAMETERS = _compiled(HEARTBEATS_SQL)
# Seconds to wait for a new connection before leaving the request to the regular handler.
CONNECT_TIMEOUT = 5
# How long a statement waits for a row another transaction holds (a project's lock, held
# by a bill while Stripe answers) before leaving its heartbeats to the regular handler,
# which waits in a thread: only IN_FLIGHT statements go out at once.
LOCK_TIMEOUT = "200ms"
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


class _Held:
    """One connection with both statements prepared."""

    def __init__(self, conn: asyncpg.Connection, one: Any, many: Any) -> None:
        self.conn, self.one, self.many = conn, one, many


async def _connect(url: str) -> _Held:
    conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT,
                                 server_settings={"application_name": APPLICATION_NAME,
                                                  "lock_timeout": LOCK_TIMEOUT})
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads,
                              schema="pg_catalog")
    return _Held(conn, await conn.prepare(STATEMENT), await conn.prepare(BATCH_STATEMENT))


class ConnectionPool:
    """Connections of one event loop, each with HEARTBEAT_SQL and HEARTBEATS_SQL prepared,
    most recently used first."""

    def __init__(self, url: str, size: int = POOL_SIZE) -> None:
        self._url = url
        self._idle: list[_Held] = []
        self._slots = asyncio.Semaphore(size)

    async def run(self, params: dict[str, Any]) -> Any | None:
        """One HEARTBEAT_SQL result row, or None when the statement could not settle the
        request here (the caller then uses the regular handler, which retries or answers a
        repeat): a unique violation from a simultaneous request with the same event_id, or
        a connection that failed."""
        return await self._execute(
            lambda held: held.one.fetchrow(*[params[name] for name in PARAMETERS]))

    async def run_many(self, beats: list[dict[str, Any]]) -> list[Any] | None:
        """HEARTBEATS_SQL's rows for `beats` (of different projects), in their order, or None
        as `run` says, for all of them: the statement is one transaction."""
        columns = {"project_ids": [b["project_id"] for b in beats],
                   "event_ids": [b["event_id"] for b in beats],
                   "machine_ids": [b["machine_id"] for b in beats], "at": None}
        return await self._execute(
            lambda held: held.many.fetch(*[columns[name] for name in BATCH_PARAMETERS]))

    async def _execute(self, call: Callable[[_Held], Awaitable[Any]]) -> Any | None:
        async with self._slots:
            held = self._idle.pop() if self._idle else None
            while held is not None and held.conn.is_closed():
                held = self._idle.pop() if self._idle else None
            try:
                if held is None:
                    held = await _connect(self._url)
                row = await call(held)
            except (asyncpg.UniqueViolationError, asyncpg.TransactionRollbackError,
                    asyncpg.LockNotAvailableError):
                # A simultaneous request with the same event_id, (several heartbeats at once)
                # a deadlock, or a row held past LOCK_TIMEOUT: the regular handler answers
                # each one.
                self._idle.append(held)  # type: ignore[arg-type]
                return None
            except _CONNECTION_ERRORS as exc:
                log.warning("heartbeat fast path: connection failed (%s); using the regular "
                            "handler", exc.__class__.__name__)
                if held is not None:
                    held.conn.terminate()
                return None
            except BaseException:
                if held is not None:
                    held.conn.terminate()
                raise
            self._idle.append(held)
            return row

    async def close(self) -> None:
        while self._idle:
            conn = self._idle.pop().conn
            try:
                await conn.close(timeout=2)
            except Exception:  # a server that is gone: just drop the socket
                conn.terminate()


class Batcher:
    """The heartbeats of one event loop on their way to the database. A heartbeat goes out at
    once, alone (HEARTBEAT_SQL), while fewer than `in_flight` statements are out; otherwise it
    waits for the next statement out, which takes every heartbeat waiting by then
    (HEARTBEATS_SQL), up to `batch_size` and one per project (a project's second heartbeat
    waits for the statement after). So a quiet worker adds no wait, and a busy one sends one
    statement and one commit for many heartbeats. Each heartbeat gets its own answer: a
    HookAnswer, None for the regular handler, or the error its request raises."""

    def __init__(self, pool: ConnectionPool, *, in_flight: int = IN_FLIGHT,
                 batch_size: int = BATCH_SIZE) -> None:
        self._pool, self._in_flight, self._batch_size = pool, in_flight, batch_size
        self._waiting: list[tuple[dict[str, Any], asyncio.Future]] = []
        self._out = 0
        self._tasks: set[asyncio.Task] = set()

    async def answer(self, beat: dict[str, Any]) -> HookAnswer | None:
        """The answer to one heartbeat (`event_id`, `project_id` as a UUID, `machine_id`)."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((beat, future))
        if self._out < self._in_flight:
            self._send()
        return await future

    def _send(self) -> None:
        batch: list[tuple[dict[str, Any], asyncio.Future]] = []
        later: list[tuple[dict[str, Any], asyncio.Future]] = []
        projects: set[Any] = set()
        for item in self._waiting:
            project_id = item[0]["project_id"]
            if project_id in projects or len(batch) >= self._batch_size:
                later.append(item)
            else:
                projects.add(project_id)
                batch.append(item)
        self._waiting = later
        self._out += 1
        task = asyncio.ensure_future(self._flush(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, batch: list[tuple[dict[str, Any], asyncio.Future]]) -> None:
        try:
            answers = await self._answers([beat for beat, _ in batch])
        except BaseException as exc:
            for _, future in batch:
                if future.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            for (_, future), answer in zip(batch, answers, strict=True):
                if future.done():  # its request went away; the heartbeat was still applied
                    continue
                if isinstance(answer, Exception):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)
        finally:
            self._out -= 1
            if self._waiting:
                self._send()

    async def _answers(self, beats: list[dict[str, Any]]) -> list[HookAnswer | Exception | None]:
        if len(beats) == 1:
            row = await self._pool.run({**beats[0], "at": None})
            if row is None:
                return [None]
            try:
                return [heartbeat_answer(tuple(row))]
            except NotFound as exc:
                return [exc]
        rows = await self._pool.run_many(beats)
        if rows is None:
            return [None] * len(beats)
        # A project that is not locked here (missing, or another transaction holds it) is
        # the regular handler's: it waits for the lock, or answers project_not_found.
        return [heartbeat_answer((True, row["earlier_status"], row["earlier_response"],
                                  row["run_id"])) if row["locked"] else None
                for row in rows]


_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ConnectionPool] = (
    weakref.WeakKeyDictionary())
_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Batcher] = (
    weakref.WeakKeyDictionary())


def pool() -> ConnectionPool:
    """The running event loop's pool (each server worker runs one loop)."""
    loop = asyncio.get_running_loop()
    found = _pools.get(loop)
    if found is None:
        found = _pools[loop] = ConnectionPool(dsn(database_url()))
    return found


def batcher() -> Batcher:
    """The running event loop's heartbeats on their way to its pool."""
    loop = asyncio.get_running_loop()
    found = _batchers.get(loop)
    if found is None:
        found = _batchers[loop] = Batcher(pool())
    return found


async def close_pool() -> None:
    """Close the running event loop's connections (a worker shutting down)."""
    _batchers.pop(asyncio.get_running_loop(), None)
    found = _pools.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await found.close()


async def fast_heartbeat(data: dict) -> HookAnswer | None:
    """The heartbeat in one statement (alone or with others), or None to leave it to the
    regular handler (always, while tests move the app's clock: the statements' clock is the
    database's own)."""
    if clock_offset():
        return None
    fields = hooks.heartbeat_fields(data)
    return await batcher().answer(
        {**fields, "project_id": parse_project_id(fields["project_id"])})


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
