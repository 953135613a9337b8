"""Run the emulator on a free port in a background thread (for tests)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import stripe
import uvicorn

from .app import AppState, create_app


@dataclass
class RunningEmulator:
    url: str
    app_state: AppState
    server: uvicorn.Server

    def client(self, api_key: str = "sk_test_emulator", **kwargs: Any) -> stripe.StripeClient:
        """A StripeClient whose every base address points at this emulator."""
        addresses = {"api": self.url, "meter_events": self.url, "files": self.url,
                     "connect": self.url}
        return stripe.StripeClient(api_key, base_addresses=addresses, **kwargs)

    def wait_for_deliveries(self, count: int, timeout: float = 10.0,
                            status: str = "delivered") -> list[dict[str, Any]]:
        """Wait until ``count`` deliveries have ``status``; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            with self.app_state.store.lock:
                rows = [dict(d) for d in self.app_state.store.deliveries
                        if d["status"] == status]
            if len(rows) >= count or time.monotonic() > deadline:
                return rows
            time.sleep(0.02)


    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no webhook is queued or being delivered (retries included)."""
        deadline = time.monotonic() + timeout
        while not self.app_state.dispatcher.idle():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def reset(self) -> None:
        """Clear all state and wait for any delivery still in flight to finish."""
        httpx.post(f"{self.url}/_emulator/reset").raise_for_status()
        self.wait_idle()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def run_in_thread(
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    **app_kwargs: Any,
) -> Iterator[RunningEmulator]:
    """Start the emulator with uvicorn on ``host:port`` (a free port by default)."""
    port = port or free_port(host)
    url = f"http://{host}:{port}"
    app = create_app(webhook_url, webhook_secret, public_url=url, **app_kwargs)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="stripe-emulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("stripe emulator did not start")
        time.sleep(0.01)
    httpx.get(f"{url}/_emulator/health", timeout=5).raise_for_status()
    try:
        yield RunningEmulator(url, app.state.emulator, server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
