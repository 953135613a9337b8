"""How the prod server runs the app: gunicorn with this module's uvicorn worker.

uvicorn has a keep-alive timeout but none for a request's headers, so a client that opens a
connection and sends its headers a byte at a time holds it for as long as it likes. The worker
here uses uvicorn's httptools protocol with a header deadline: the request line and headers must
arrive within `HEADER_TIMEOUT` seconds of the connection opening (or of the request starting,
on a kept-alive connection), else the connection is closed.

httptools sets no size limit on the request line or headers either, so the protocol also
refuses a request head (request line and headers) that passes `MAX_HEAD_BYTES` before it is
complete: 431 in the API's error shape, then the connection closed, without buffering more of
it (what the client still sends for `REFUSAL_LINGER_SECONDS` is read and dropped, so that it
gets the answer rather than a reset). The ceiling is far above the app's own limits
(`api.limits`: 414 for a URL over 8 KiB, 431 for headers over 32 KiB, bodies by size and
time), which answer every realistic request; this one only stops the server from holding an
unbounded head in memory.

A websocket message is bounded too (`MAX_WS_MESSAGE_BYTES`, uvicorn's `ws_max_size`): a larger
one closes the connection (1009) before more of it is read or inflated. uvicorn's default of
16 MiB let a client hold 16 MiB of a worker per connection with a few KiB of compressed
traffic; Reflex's events are small, and its socket.io refuses anything over 1 MB anyway.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker

HEADER_TIMEOUT = 10.0
MAX_HEAD_BYTES = 1024 * 1024  # request line and headers; far above api.limits' limits
REFUSAL_LINGER_SECONDS = 2.0
# Just over socket.io's own limit (Reflex's REFLEX_SOCKET_MAX_HTTP_BUFFER_SIZE, 1,000,000).
MAX_WS_MESSAGE_BYTES = 1024 * 1024
KEEP_ALIVE_SECONDS = 5
GRACEFUL_TIMEOUT_SECONDS = 25  # fly.toml's kill_timeout is longer


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose headers arrive too slowly or
    grow too large."""

    header_timeout = HEADER_TIMEOUT
    max_head_bytes = MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._refused = False

    def _arm(self) -> None:
        self._disarm()
        self._head_bytes = 0
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        self._close()

    def _head_too_large(self) -> None:
        self._disarm()
        body = json.dumps({"error": {
            "code": "headers_too_large",
            "message": f"The request line and headers are too large (at most "
                       f"{self.max_head_bytes} bytes).",
        }}).encode()
        self.transport.write(b"".join([
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]))
        self._refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(REFUSAL_LINGER_SECONDS, self._close)

    def _close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the rest of a refused head, dropped
        super().data_received(data)
        # Still within a request's head once this data is parsed (the deadline is armed from
        # its first byte to the end of its headers): all of it was head. (When the data also
        # ended the previous request, that request's tail is counted too: one read at most.)
        if self._header_deadline is not None and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._head_too_large()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


class AetherUvicornWorker(UvicornWorker):
    """gunicorn's uvicorn worker on uvloop with the header deadline and the websocket message
    bound above."""

    CONFIG_KWARGS: dict[str, Any] = {"loop": "auto", "http": HeaderDeadlineProtocol,
                                     "ws_max_size": MAX_WS_MESSAGE_BYTES}


WORKER_CLASS = "aether_web.serving.AetherUvicornWorker"


def gunicorn_args(workers: int) -> str:
    """GUNICORN_CMD_ARGS of the prod server (deploy/Dockerfile and fly.toml say the same)."""
    return (f"--workers {workers} --worker-class {WORKER_CLASS} "
            f"--graceful-timeout {GRACEFUL_TIMEOUT_SECONDS} --keep-alive {KEEP_ALIVE_SECONDS} "
            "--timeout 60")
