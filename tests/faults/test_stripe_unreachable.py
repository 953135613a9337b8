"""Stripe unreachable or hanging: Checkout and the Customer Portal answer a friendly error
within seconds (short timeouts, one retry), and the usage numbers still load."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from aether_web.integrations.stripe.client import _gateway_for
from aether_web.settings import get_settings
from tools.local_stack import free_port

BOUND_SECONDS = 20  # generous: 5 s per attempt, one retry, on a loaded machine


class HangingServer:
    """Accepts connections and never answers (a Stripe that hangs)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture(params=["unreachable", "hanging"])
def stripe_down(request, monkeypatch):
    server = HangingServer() if request.param == "hanging" else None
    port = server.port if server else free_port()  # nothing listens on a fresh free port
    monkeypatch.setenv("STRIPE_API_BASE", f"http://127.0.0.1:{port}")
    get_settings.cache_clear()
    _gateway_for.cache_clear()
    yield request.param
    get_settings.cache_clear()
    _gateway_for.cache_clear()
    if server:
        server.close()


def _timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_checkout_and_portal_answer_a_friendly_error_in_seconds(stripe_down, make_user,
                                                                 client_for):
    newcomer = client_for(make_user())
    subscriber = client_for(make_user(plan="pro", stripe_customer_id="cus_fault_portal"))
    checkout, took_checkout = _timed(lambda: newcomer.post("/api/billing/checkout",
                                                           json={"plan": "pro"}))
    portal, took_portal = _timed(lambda: subscriber.post("/api/billing/portal"))
    print(f"\nStripe {stripe_down}: checkout answered in {took_checkout:.1f} s, "
          f"portal in {took_portal:.1f} s")
    for response, took in ((checkout, took_checkout), (portal, took_portal)):
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "stripe_unavailable"
        assert "try again" in error["message"].lower()
        assert took < BOUND_SECONDS
    # The usage numbers don't need Stripe: /billing's data still loads.
    usage = subscriber.get("/api/billing/usage")
    assert usage.status_code == 200 and "period" in usage.json()
