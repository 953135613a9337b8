"""How the prod server runs the app: gunicorn with this module's uvicorn worker.

uvicorn has a keep-alive timeout but none for a request's headers, so a client that opens a
connection and sends its headers a byte at a time holds it for as long as it likes. The worker
here uses uvicorn's httptools protocol with a header deadline: the request line and headers must
arrive within `HEADER_TIMEOUT` seconds of the connection opening (or of the request starting,
on a kept-alive connection), else the connection is closed. Bodies are bounded in
`api.limits` (size and time).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker

HEADER_TIMEOUT = 10.0
KEEP_ALIVE_SECONDS = 5
GRACEFUL_TIMEOUT_SECONDS = 25  # fly.toml's kill_timeout is longer


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose headers arrive too slowly."""

    header_timeout = HEADER_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()

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
    """gunicorn's uvicorn worker on uvloop with the header deadline above."""

    CONFIG_KWARGS: dict[str, Any] = {"loop": "auto", "http": HeaderDeadlineProtocol}


WORKER_CLASS = "aether_web.serving.AetherUvicornWorker"


def gunicorn_args(workers: int) -> str:
    """GUNICORN_CMD_ARGS of the prod server (deploy/Dockerfile and fly.toml say the same)."""
    return (f"--workers {workers} --worker-class {WORKER_CLASS} "
            f"--graceful-timeout {GRACEFUL_TIMEOUT_SECONDS} --keep-alive {KEEP_ALIVE_SECONDS} "
            "--timeout 60")
